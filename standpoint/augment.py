"""Perturbed copies of a data set, for distillation on more text than the labelled records.

The data spec ``SPEC~augK`` (e.g. ``semeval-train~aug2``) is K copies of every record of
``SPEC``, each with a few words dropped and two neighbouring words swapped. Copy ``k`` of
record ``ID`` has id ``ID~augk``; the same spec always gives the same copies, so a teacher's
soft labels can be keyed to them like any other record (training/soft_labels.py).

A copy keeps its record's targets, but not its gold labels: dropping a word ("not") can flip a
stance, so the copy is tagged ``augmented``, has no sentiment, and trains on the teacher's soft
labels alone (a config with an augmented spec must give it a soft-label file). Copies of a
record held out for validation never train (training/train.py drops them).
"""

from __future__ import annotations

import random
import re
import zlib

from .records import LabelledSet, StanceRecord

SUFFIX = "~aug"
TAG = "augmented"
DROP = 0.15          # chance that each word is dropped (short texts keep at least MIN_WORDS)
MIN_WORDS = 4
SPEC = re.compile(r"^(?P<base>.+)~aug(?P<k>[0-9]+)$")


def parse_spec(spec: str) -> tuple[str, int] | None:
    """(base spec, copies) for ``BASE~augK``; None for any other spec."""
    m = SPEC.match(spec)
    if not m:
        return None
    k = int(m["k"])
    if not 1 <= k <= 20:
        raise ValueError(f"data spec {spec!r}: use {m['base']}~aug1 .. {m['base']}~aug20 (copies per record)")
    return m["base"], k


def base_spec(spec: str) -> str:
    parsed = parse_spec(spec)
    return parsed[0] if parsed else spec


def source_id(record_id: str) -> str:
    """The id of the record a copy was made from (the id itself for an original record)."""
    return record_id.split(SUFFIX, 1)[0]


def is_augmented(record: StanceRecord) -> bool:
    """A copy made here: its id has the copy suffix and it carries the tag (a user's record that
    happens to be tagged ``augmented`` keeps its gold labels)."""
    return TAG in record.notes and SUFFIX in record.id


def perturb(text: str, rng: random.Random) -> str:
    """Drop each word with chance DROP (keeping at least MIN_WORDS), then swap two neighbours."""
    words = text.split()
    if len(words) > MIN_WORDS:
        kept = [w for w in words if rng.random() >= DROP]
        words = kept if len(kept) >= MIN_WORDS else words
    if len(words) >= 2:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def augment(data: LabelledSet, copies: int, name: str) -> LabelledSet:
    """``copies`` perturbed copies of each record, seeded by record id and copy number."""
    out = []
    for rec in data.records:
        for k in range(1, copies + 1):
            rid = f"{rec.id}{SUFFIX}{k}"
            rng = random.Random(zlib.crc32(rid.encode("utf-8")))
            out.append(StanceRecord(id=rid, text=perturb(rec.text, rng), stances=dict(rec.stances),
                                    sentiment=None, notes=(TAG,), topic=rec.topic, genre=rec.genre))
    return LabelledSet(name, out, dict(data.targets))
