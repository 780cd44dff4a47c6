"""Adapters from the public stance data sets in ``../shared/data`` to contract records.

The data stay where they are (their terms forbid redistribution): the root is
``$STANDPOINT_SHARED_DATA`` or ``../shared/data`` beside the repository.
Named sets: see ``NAMED_SETS``. A data SPEC elsewhere is either such a name or a JSONL path,
optionally with ``~augK`` (perturbed copies for distillation, standpoint/augment.py).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Callable

from .augment import augment, parse_spec
from .records import LabelledSet, RecordError, StanceRecord, load_jsonl
from .targets import REPO_ROOT, load_targets, repo_path

SEMEVAL_TARGETS = {
    "Atheism": "atheism",
    "Climate Change is a Real Concern": "climate_change",
    "Feminist Movement": "feminist_movement",
    "Hillary Clinton": "hillary_clinton",
    "Legalization of Abortion": "legalization_of_abortion",
    "Donald Trump": "donald_trump",
}
TWEETEVAL_TARGETS = {
    "abortion": "legalization_of_abortion", "atheism": "atheism", "climate": "climate_change",
    "feminist": "feminist_movement", "hillary": "hillary_clinton",
}
PSTANCE_TARGETS = {"trump": "donald_trump", "biden": "joe_biden", "bernie": "bernie_sanders"}
RUW_TARGETS = {"Russia": "russia", "Ukraine": "ukraine"}
UPPER_STANCE = {"FAVOR": "favor", "AGAINST": "against", "NONE": "none"}
UPPER_SENTIMENT = {"POSITIVE": "positive", "NEGATIVE": "negative", "NEITHER": "neutral"}


class DataUnavailable(FileNotFoundError):
    """The external data folder (or one of its files) is not where it was looked for."""


def shared_data_root() -> Path:
    return Path(os.environ.get("STANDPOINT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _file(root: Path, *parts: str) -> Path:
    path = root.joinpath(*parts)
    if not path.is_file():
        raise DataUnavailable(
            f"{path} not found: point STANDPOINT_SHARED_DATA at the folder holding the public "
            f"stance data (semeval2016_task6/, tweeteval_stance/, pstance/, ruw/, vast/)")
    return path


def _descriptions(ids) -> dict[str, str]:
    known = load_targets()
    return {t: known[t] for t in sorted(set(ids))}


def semeval(split: str, root: Path) -> LabelledSet:
    """SemEval-2016 Task 6 (all-annotations TSV, latin-1): stance and sentiment."""
    name = {"train": "trainingdata", "trial": "trialdata", "a-test": "testdata-taskA",
            "b-test": "testdata-taskB"}[split]
    path = _file(root, "semeval2016_task6", "all-annotations", f"{name}-all-annotations.txt")
    records = []
    with path.open(encoding="latin-1", newline="") as fh:
        lines = fh.read().splitlines()
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 6:
            raise RecordError(f"{path}:{lineno}: expected 6 tab-separated columns, got {len(cols)}")
        rid, target, text, stance, _opinion, sentiment = cols
        records.append(StanceRecord(
            id=f"semeval-{rid}", text=text.strip(),
            stances={SEMEVAL_TARGETS[target]: UPPER_STANCE[stance]},
            sentiment=UPPER_SENTIMENT[sentiment.strip()]))
    return LabelledSet(f"semeval-{split}", records, _descriptions(t for r in records for t in r.stances))


def tweeteval(split: str, root: Path) -> LabelledSet:
    """TweetEval stance: one folder per target, text and label files (0 none, 1 against, 2 favor)."""
    labels = {"0": "none", "1": "against", "2": "favor"}
    records = []
    for folder, target in TWEETEVAL_TARGETS.items():
        texts = _file(root, "tweeteval_stance", "datasets", "stance", folder, f"{split}_text.txt")
        golds = _file(root, "tweeteval_stance", "datasets", "stance", folder, f"{split}_labels.txt")
        text_lines = texts.read_text(encoding="utf-8").splitlines()
        label_lines = golds.read_text(encoding="utf-8").split()
        if len(text_lines) != len(label_lines):
            raise RecordError(f"{texts}: {len(text_lines)} texts but {len(label_lines)} labels in {golds}")
        for i, (text, label) in enumerate(zip(text_lines, label_lines)):
            records.append(StanceRecord(id=f"tweeteval-{split}-{folder}-{i}", text=text.strip(),
                                        stances={target: labels[label]}))
    return LabelledSet(f"tweeteval-{split}", records, _descriptions(TWEETEVAL_TARGETS.values()))


def pstance(split: str, root: Path) -> LabelledSet:
    """P-Stance (FAVOR/AGAINST only; CR line ends)."""
    records = []
    for short, target in PSTANCE_TARGETS.items():
        path = _file(root, "pstance", f"raw_{split}_{short}.csv")
        with path.open(encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                records.append(StanceRecord(id=f"pstance-{split}-{short}-{i}", text=row["Tweet"].strip(),
                                            stances={target: UPPER_STANCE[row["Stance"].strip()]}))
    return LabelledSet(f"pstance-{split}", records, _descriptions(PSTANCE_TARGETS.values()))


def ruw(split: str, root: Path) -> LabelledSet:
    """RUW: Russia-Ukraine war tweets, two targets a tweet. The files are GB18030, not UTF-8."""
    path = _file(root, "ruw", f"raw_{split}_Russia_Ukraine.csv")
    records = []
    with path.open(encoding="gb18030", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            stances = {RUW_TARGETS[row[f"Target {k}"].strip()]: UPPER_STANCE[row[f"Stance {k}"].strip()]
                       for k in (1, 2)}
            records.append(StanceRecord(id=f"ruw-{split}-{i}", text=row["Tweet"].strip(), stances=stances))
    return LabelledSet(f"ruw-{split}", records, _descriptions(RUW_TARGETS.values()))


def vast_target_id(topic: str) -> str:
    return "vast:" + re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-")[:120]


def vast(split: str, root: Path, zero_shot_only: bool = False) -> LabelledSet:
    """VAST (0 against, 1 favor, 2 neutral); each topic becomes an ad-hoc target ``vast:<slug>``."""
    labels = {"0": "against", "1": "favor", "2": "none"}
    path = _file(root, "vast", f"vast_{split}.csv")
    records, targets = [], {}
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if zero_shot_only and row["seen?"].strip() != "0":
                continue
            tid = vast_target_id(row["Target"])
            targets[tid] = row["Target"].strip()
            records.append(StanceRecord(id=f"vast-{split}-{i}", text=row["Tweet"].strip(),
                                        stances={tid: labels[row["Stance"].strip()]}))
    name = f"vast-{split}" + ("-zeroshot" if zero_shot_only else "")
    return LabelledSet(name, records, targets)


NAMED_SETS: dict[str, Callable[[Path], LabelledSet]] = {
    "semeval-train": lambda r: semeval("train", r),
    "semeval-trial": lambda r: semeval("trial", r),
    "semeval-a-test": lambda r: semeval("a-test", r),
    "semeval-b-test": lambda r: semeval("b-test", r),
    **{f"tweeteval-{s}": (lambda r, s=s: tweeteval(s, r)) for s in ("train", "val", "test")},
    **{f"pstance-{s}": (lambda r, s=s: pstance(s, r)) for s in ("train", "val", "test")},
    **{f"ruw-{s}": (lambda r, s=s: ruw(s, r)) for s in ("train", "val", "test")},
    "vast-dev": lambda r: vast("dev", r),
    "vast-test": lambda r: vast("test", r),
    "vast-test-zeroshot": lambda r: vast("test", r, zero_shot_only=True),
}


def load_spec(spec: str, targets_file: str | Path | None = None) -> LabelledSet:
    """A named external set, or a contract JSONL path whose targets are in the targets config;
    ``SPEC~augK``: K perturbed copies of each record of SPEC (standpoint/augment.py)."""
    try:
        parsed = parse_spec(spec)
    except ValueError as exc:
        raise RecordError(str(exc)) from None
    if parsed:
        return augment(load_spec(repo_path(parsed[0]), targets_file), parsed[1], spec)
    if spec in NAMED_SETS:
        return NAMED_SETS[spec](shared_data_root())
    path = Path(spec)
    if path.suffix == ".jsonl" or path.exists():
        known = load_targets(targets_file) if targets_file else load_targets()
        records = load_jsonl(path, known_targets=known)
        used = {t for r in records for t in r.stances}
        return LabelledSet(path.stem, records, {t: known[t] for t in sorted(used)})
    raise RecordError(f"unknown data spec {spec!r}: give a JSONL path or one of {', '.join(NAMED_SETS)}")
