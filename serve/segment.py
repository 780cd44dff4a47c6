"""A document becomes statements with character offsets, for ``POST /analyze``.

pysbd (rule-based, maintained, no model to download) finds the sentence boundaries. A quotation
that runs over several sentences is one statement: pysbd keeps most of them whole, and a quote
it still splits (e.g. across a paragraph break) is joined back here when it closes soon after.
Offsets are Python string indices (Unicode code points) into the document, end exclusive, and
``document[start:end] == text`` always holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pysbd

# A quote that has not closed after this many sentences is taken to be a stray mark, not a quote.
MAX_QUOTE_SENTENCES = 8
QUOTE_PAIRS = (("\u201c", "\u201d"), ("\u00ab", "\u00bb"))
# pysbd's time grows faster than linearly with its input, so long documents go to it in blocks of
# at most this many characters, cut at a paragraph, a line or a sentence end where there is one.
BLOCK_CHARS = 4000
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u00bb)\]]*\s+")


@dataclass(frozen=True)
class Statement:
    text: str
    start: int
    end: int


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def split_statements(document: str) -> list[Statement]:
    """Statements of ``document`` in order, stripped of surrounding whitespace, none empty."""
    spans = _sentence_spans(document)
    merged: list[tuple[int, int]] = []
    k = 0
    while k < len(spans):
        start, end = spans[k]
        close = _quote_closes_at(document, spans, k)
        if close is not None:
            end = spans[close][1]
            rest = _after_leading_quote(document, *spans[close])
            if rest is not None:  # pysbd put the closing mark in front of the next sentence: split after it
                end = rest
                spans[close] = (rest, spans[close][1])
                close -= 1
            k = close
        merged.append((start, end))
        k += 1
    out = []
    for start, end in merged:
        text = document[start:end]
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        if text:
            out.append(Statement(text, start + lead, start + lead + len(text)))
    return out


def _sentence_spans(document: str) -> list[tuple[int, int]]:
    """pysbd's sentences as (start, end) in the document.

    With ``clean=False`` every sentence is a substring; it is found from a cursor so repeated
    sentences map to their own place (pysbd's own char_span searches and can pick an earlier copy).
    """
    spans = []
    for block_start, block_end in _blocks(document):
        cursor = block_start
        for sentence in _segmenter().segment(document[block_start:block_end]):
            if not sentence.strip():
                continue
            start = document.find(sentence, cursor, block_end)
            if start < 0:  # pysbd changed the text after all: fall back to its stripped core
                sentence = sentence.strip()
                start = document.find(sentence, cursor, block_end)
                if start < 0:
                    continue
            spans.append((start, start + len(sentence)))
            cursor = start + len(sentence)
    if not spans and document.strip():
        spans.append((0, len(document)))
    return spans


def _blocks(document: str) -> list[tuple[int, int]]:
    blocks, pos = [], 0
    while pos < len(document):
        end = min(pos + BLOCK_CHARS, len(document))
        if end < len(document):
            window = document[pos:end]
            cut = window.rfind("\n\n")
            if cut < BLOCK_CHARS // 4:
                cut = window.rfind("\n")
            if cut < BLOCK_CHARS // 4:
                ends = [m.end() for m in _SENTENCE_END.finditer(window)]
                closed = [e for e in ends if not _open_quotes(window[:e])]
                cut = (closed or ends or [window.rfind(" ")])[-1]
            if cut >= BLOCK_CHARS // 4:
                end = pos + cut + 1 if window[cut] == "\n" else pos + cut
        blocks.append((pos, end))
        pos = end
    return blocks


def _open_quotes(text: str) -> bool:
    if text.count('"') % 2:
        return True
    return any(text.count(open_) > text.count(close) for open_, close in QUOTE_PAIRS)


def _after_leading_quote(document: str, start: int, end: int) -> int | None:
    """Where the text after a sentence's leading closing quote mark begins, if more text follows it."""
    text = document[start:end]
    body = text.lstrip()
    closers = '"' + "".join(close for _, close in QUOTE_PAIRS)
    if not body or body[0] not in closers or not body[1:].strip():
        return None
    return start + len(text) - len(body) + 1


def _quote_closes_at(document: str, spans: list[tuple[int, int]], k: int) -> int | None:
    """The index of the sentence that closes a quote left open in sentence ``k``, if one does soon."""
    start = spans[k][0]
    if not _open_quotes(document[start:spans[k][1]]):
        return None
    for j in range(k + 1, min(len(spans), k + MAX_QUOTE_SENTENCES)):
        if not _open_quotes(document[start:spans[j][1]]):
            return j
    return None
