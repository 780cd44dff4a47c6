"""Teacher soft labels: computed once, stored as small JSONL files keyed by record id.

One file per training data spec. The first line is a header naming the spec, the teacher and
the label order; each further line holds one record of that spec::

    {"soft_labels": 1, "spec": "semeval-train", "teacher": "standpoint-teacher 20261128-ab12cd34",
     "records": 2814, "stance_labels": [...], "sentiment_labels": [...]}
    {"id": "semeval-101", "text_sha1": "5f0c1e2a9b3d", "sentiment": [0.91, 0.05, 0.04],
     "stances": {"atheism": [0.02, 0.95, 0.03]}}

Only ids, a short hash of the text and the teacher's calibrated probabilities are stored, so a
file never carries third-party text. The hash makes a stale file (records edited since the
teacher ran) a clear error rather than a silent mismatch. Regenerate with::

    standpoint soft-labels --model artifacts/teacher --config configs/student.yaml

Regenerating keeps the entries of an existing file written by the same teacher (name and
version) whose record is unchanged (same id, text hash and targets), and runs the teacher only
on new or edited records; ``--fresh`` recomputes every entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from model.predictor import Predictor
from standpoint.adapters import load_spec
from standpoint.records import SENTIMENT_LABELS, STANCE_LABELS, LabelledSet
from standpoint.targets import repo_path

log = logging.getLogger("standpoint.soft_labels")
FORMAT = 1


class SoftLabelError(ValueError):
    """A soft-label file that does not match the records it is keyed to."""


@dataclass(frozen=True)
class SoftLabel:
    sentiment: tuple[float, ...] | None
    stances: dict[str, tuple[float, ...]]


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def teacher_id(predictor: Predictor) -> str:
    return f"{predictor.name} {predictor.version}"


def _header_problem(obj, spec: str) -> str | None:
    """Why ``obj`` is not the header of a soft-label file for ``spec``; None when it is."""
    if not isinstance(obj, dict) or obj.get("soft_labels") != FORMAT:
        return f"not a soft-label file (header with \"soft_labels\": {FORMAT})"
    if obj.get("spec") != spec:
        return f"file is keyed to {obj.get('spec')!r}, config uses it for {spec!r}"
    if obj.get("stance_labels") != list(STANCE_LABELS) or obj.get("sentiment_labels") != list(SENTIMENT_LABELS):
        return f"label order differs from {STANCE_LABELS} / {SENTIMENT_LABELS}"
    return None


def reusable_entries(path: Path, data: LabelledSet, spec: str, teacher: str) -> dict[str, str]:
    """Record id -> stored line of an existing file that this teacher wrote for ``spec``, for
    records whose text and targets are unchanged. Anything unreadable reuses nothing."""
    if not path.is_file():
        return {}
    by_id = {r.id: r for r in data.records}
    keep: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0]) if lines else None
        if _header_problem(header, spec) or header.get("teacher") != teacher:
            return {}
        for line in lines[1:]:
            obj = json.loads(line)
            rec = by_id.get(obj.get("id"))
            if (rec is not None and obj.get("text_sha1") == text_hash(rec.text)
                    and set(obj.get("stances") or {}) == set(rec.stances)):
                keep[rec.id] = line
    except (ValueError, AttributeError):  # bad JSON, or a line that is not an object
        return {}
    return keep


def write_soft_labels(predictor: Predictor, data: LabelledSet, spec: str, output: str | Path,
                      progress: bool = True, reuse: bool = True) -> Path:
    """The teacher's calibrated probabilities for every record of ``data``: sentiment, and
    stance toward each target the record labels. With ``reuse``, unchanged entries of an
    existing file by the same teacher are kept and only the other records are run."""
    output = Path(output)
    teacher = teacher_id(predictor)
    kept = reusable_entries(output, data, spec, teacher) if reuse else {}
    todo = [r for r in data.records if r.id not in kept]
    log.info("%s: %d entries kept from the existing file, teacher runs on %d records", output, len(kept), len(todo))
    targets = [{tid: data.targets[tid] for tid in r.stances} for r in todo]
    preds = predictor.predict_each([r.text for r in todo], targets, progress=progress) if todo else []
    fresh = {}
    for rec, pred in zip(todo, preds):
        line = {"id": rec.id, "text_sha1": text_hash(rec.text),
                "sentiment": [round(pred.sentiment.probability[k], 4) for k in SENTIMENT_LABELS],
                "stances": {tid: [round(s.probability[k], 4) for k in STANCE_LABELS]
                            for tid, s in pred.stances.items()}}
        fresh[rec.id] = json.dumps(line, separators=(",", ":"))
    output.parent.mkdir(parents=True, exist_ok=True)
    header = {"soft_labels": FORMAT, "spec": spec, "teacher": teacher,
              "records": len(data.records), "stance_labels": list(STANCE_LABELS),
              "sentiment_labels": list(SENTIMENT_LABELS)}
    tmp = output.with_suffix(output.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(header) + "\n")
        for rec in data.records:
            fh.write((kept.get(rec.id) or fresh[rec.id]) + "\n")
    tmp.replace(output)
    return output


def _probs(value, where: str, n: int = 3) -> tuple[float, ...]:
    if (not isinstance(value, list) or len(value) != n or not all(isinstance(x, (int, float)) for x in value)
            or min(value) < 0 or abs(sum(value) - 1) > 0.01):
        raise SoftLabelError(f"{where}: expected {n} probabilities summing to 1, got {value!r}")
    return tuple(float(x) for x in value)


def read_soft_labels(path: str | Path, data: LabelledSet, spec: str) -> dict[str, SoftLabel]:
    """Id -> soft label, checked against every record of ``data`` (the whole spec): a record
    without an entry, an entry whose record is gone or whose text changed, or an entry lacking
    a target the record labels is an error naming the file, line and id."""
    path = Path(path)
    if not path.is_file():
        raise SoftLabelError(f"soft-label file {path} not found: regenerate it with "
                             "`standpoint soft-labels --model TEACHER --config CONFIG` (see README)")
    by_id = {r.id: r for r in data.records}
    out: dict[str, SoftLabel] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SoftLabelError(f"{where}: bad JSON: {exc.msg}") from None
            if lineno == 1:
                problem = _header_problem(obj, spec)
                if problem:
                    raise SoftLabelError(f"{where}: {problem}")
                continue
            rid = obj.get("id") if isinstance(obj, dict) else None
            rec = by_id.get(rid)
            if rec is None:
                raise SoftLabelError(f"{where}: stale id {rid!r}: no such record in {spec!r}; regenerate the file")
            if obj.get("text_sha1") != text_hash(rec.text):
                raise SoftLabelError(f"{where}: stale id {rid!r}: the record's text changed since the teacher "
                                     "labelled it; regenerate the file")
            if rid in out:
                raise SoftLabelError(f"{where}: id {rid!r} appears twice")
            stances = obj.get("stances") or {}
            lacking = sorted(set(rec.stances) - set(stances))
            if lacking:
                raise SoftLabelError(f"{where}: id {rid!r} has no soft label for target(s) {lacking}")
            senti = obj.get("sentiment")
            out[rid] = SoftLabel(None if senti is None else _probs(senti, f"{where}: sentiment"),
                                 {t: _probs(p, f"{where}: stances.{t}") for t, p in stances.items()})
    missing = [r.id for r in data.records if r.id not in out]
    if missing:
        raise SoftLabelError(f"{path}: {len(missing)} record(s) of {spec!r} have no soft label "
                             f"(first: {missing[:3]}); regenerate the file")
    return out


def load_for_config(config, targets_file: str | Path) -> dict[str, SoftLabel]:
    """Soft labels of every spec in ``config.soft_labels``, merged by record id."""
    merged: dict[str, SoftLabel] = {}
    for spec, file in config.soft_labels.items():
        merged.update(read_soft_labels(repo_path(file), load_spec(repo_path(spec), targets_file), spec))
    return merged


def generate(model_dir: str | Path, config, batch_size: int = 64, backend: str | None = "torch-fp32",
             reuse: bool = True) -> list[Path]:
    """Run the teacher over each spec of ``config.soft_labels`` and write its file (keeping the
    still-valid entries of an existing file when ``reuse``)."""
    targets_file = repo_path(config.targets_file)
    predictor = Predictor(model_dir, batch_size=batch_size, backend=backend)
    written = []
    for spec, file in config.soft_labels.items():
        data = load_spec(repo_path(spec), targets_file)
        log.info("teacher %s on %s: %d records -> %s", predictor.name, spec, len(data.records), file)
        written.append(write_soft_labels(predictor, data, spec, repo_path(file), reuse=reuse))
    return written


def sharpen(probs: tuple[float, ...], temperature: float) -> list[float]:
    """Re-temper stored probabilities: softmax(log p / T), i.e. teacher logits divided by T."""
    powered = [max(p, 1e-8) ** (1.0 / temperature) for p in probs]
    total = sum(powered)
    return [p / total for p in powered]
