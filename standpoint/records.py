"""The labelling contract (../shared/ANNOTATION.md) as code: records, labels, JSONL I/O.

A target missing from a record's ``stances`` is *unlabelled* (masked in loss and
metrics), never ``none``; the same holds for a missing ``sentiment``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import datasets

STANCE_LABELS = ("favor", "against", "none")
SENTIMENT_LABELS = ("positive", "negative", "neutral")
OPTIONAL_FIELDS = ("source", "speaker", "lang", "notes", "topic", "genre")


class RecordError(ValueError):
    """A record that breaks the contract; the message names file, line and field."""


@dataclass(frozen=True)
class StanceRecord:
    id: str
    text: str
    stances: Mapping[str, str] = field(default_factory=dict)
    sentiment: str | None = None
    notes: tuple[str, ...] = ()
    topic: str | None = None
    genre: str | None = None

    def to_json(self) -> dict:
        out: dict = {"id": self.id, "text": self.text, "stances": dict(self.stances)}
        if self.sentiment is not None:
            out["sentiment"] = self.sentiment
        for key in ("topic", "genre"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass
class LabelledSet:
    """Records plus the descriptions of every target they label."""

    name: str
    records: list[StanceRecord]
    targets: dict[str, str]

    def to_dataset(self) -> datasets.Dataset:
        return records_to_dataset(self.records)


def _notes_tags(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(t for t in value.replace(",", " ").split() if t)
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return tuple(value)
    raise RecordError(f"{where}: field 'notes': expected a string or a list of strings")


def parse_record(obj, where: str, known_targets: Iterable[str] | None = None) -> StanceRecord:
    """Validate one decoded JSON object against the contract.

    ``where`` prefixes every error (``path:line``); ``known_targets``, when given,
    rejects target ids outside it.
    """
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise RecordError(f"{where}: field 'id': missing or not a non-empty string")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise RecordError(f"{where}: field 'text': missing or empty (record {rid!r})")
    stances = obj.get("stances", {})
    if not isinstance(stances, dict):
        raise RecordError(f"{where}: field 'stances': expected an object of target id -> label")
    known = set(known_targets) if known_targets is not None else None
    for target, label in stances.items():
        if label not in STANCE_LABELS:
            raise RecordError(
                f"{where}: field 'stances.{target}': unknown label {label!r} "
                f"(expected one of {', '.join(STANCE_LABELS)})")
        if known is not None and target not in known:
            raise RecordError(
                f"{where}: field 'stances.{target}': unknown target id "
                f"(known: {', '.join(sorted(known))}; add it to the targets config)")
    sentiment = obj.get("sentiment")
    if sentiment is not None and sentiment not in SENTIMENT_LABELS:
        raise RecordError(
            f"{where}: field 'sentiment': unknown label {sentiment!r} "
            f"(expected one of {', '.join(SENTIMENT_LABELS)})")
    for key in ("topic", "genre"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise RecordError(f"{where}: field '{key}': expected a string")
    return StanceRecord(
        id=rid, text=text, stances=dict(stances), sentiment=sentiment,
        notes=_notes_tags(obj.get("notes"), where), topic=obj.get("topic"), genre=obj.get("genre"))


def load_jsonl(path: str | Path, known_targets: Iterable[str] | None = None) -> list[StanceRecord]:
    """Read a contract JSONL file; raise RecordError naming the line and field of a bad record."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    records, seen = [], {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(f"{where}: bad JSON: {exc.msg} (column {exc.colno})") from None
            record = parse_record(obj, where, known_targets)
            if record.id in seen:
                raise RecordError(f"{where}: field 'id': duplicate id {record.id!r} (first on line {seen[record.id]})")
            seen[record.id] = lineno
            records.append(record)
    return records


def write_jsonl(records: Iterable[StanceRecord | dict], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r.to_json() if isinstance(r, StanceRecord) else r, ensure_ascii=False) + "\n")


def records_to_dataset(records: list[StanceRecord]) -> datasets.Dataset:
    """A flat ``datasets.Dataset``: stances as parallel lists, so unlabelled targets stay absent."""
    return datasets.Dataset.from_dict({
        "id": [r.id for r in records],
        "text": [r.text for r in records],
        "stance_targets": [list(r.stances) for r in records],
        "stance_labels": [list(r.stances.values()) for r in records],
        "sentiment": [r.sentiment for r in records],
        "notes": [list(r.notes) for r in records],
        "topic": [r.topic for r in records],
        "genre": [r.genre for r in records],
    })
