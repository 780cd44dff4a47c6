"""Domain-corpus checks shared by the build script and the tests: near-duplicates and label shares."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from itertools import combinations
from typing import Sequence

from .records import StanceRecord

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
PRODUCT_TARGETS = ("foreign_military_presence", "recognition")
# Label shares the corpus aims at (issue: "labels near ..."), within TOLERANCE.
TARGET_SHARES = {
    "foreign_military_presence": {"favor": 0.30, "against": 0.35, "none": 0.35},
    "recognition": {"favor": 0.25, "against": 0.25, "none": 0.50},
    "sentiment": {"positive": 1 / 3, "negative": 1 / 3, "neutral": 1 / 3},
}
TOLERANCE = 0.10


def normalised_words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("’", "'"))


def word_ngrams(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = normalised_words(text)
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def near_duplicates(texts: Sequence[str], threshold: float = 0.6, n: int = 5) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) of texts whose normalised word n-gram Jaccard exceeds ``threshold``.

    Only pairs sharing at least one n-gram are compared (inverted index), so this is fast on
    thousands of statements.
    """
    grams = [word_ngrams(t, n) for t in texts]
    index: dict[tuple, list[int]] = defaultdict(list)
    for i, g in enumerate(grams):
        for gram in g:
            index[gram].append(i)
    shared: Counter = Counter()
    for ids in index.values():
        if len(ids) > 1:
            for i, j in combinations(sorted(set(ids)), 2):
                shared[(i, j)] += 1
    out = []
    for (i, j), inter in shared.items():
        union = len(grams[i]) + len(grams[j]) - inter
        score = inter / union if union else 0.0
        if score > threshold:
            out.append((i, j, score))
    return sorted(out)


def label_shares(records: Sequence[StanceRecord]) -> dict[str, dict[str, float]]:
    out = {}
    for key in (*PRODUCT_TARGETS, "sentiment"):
        labels = [r.sentiment if key == "sentiment" else r.stances.get(key) for r in records]
        labels = [x for x in labels if x is not None]
        counts = Counter(labels)
        out[key] = {lab: counts[lab] / len(labels) if labels else 0.0 for lab in TARGET_SHARES[key]}
    return out


def share_violations(records: Sequence[StanceRecord]) -> list[str]:
    """Label shares further than TOLERANCE from TARGET_SHARES, as readable lines."""
    shares = label_shares(records)
    return [f"{key} {lab}: {shares[key][lab]:.1%} (aim {aim:.0%} +/- {TOLERANCE:.0%})"
            for key, aims in TARGET_SHARES.items() for lab, aim in aims.items()
            if abs(shares[key][lab] - aim) > TOLERANCE]
