"""standpoint eval --model DIR --data SPEC [SPEC ...] [--suite all] --out DIR

Scores a saved model on contract JSONL files or named external sets and writes
``metrics.json`` (machine-readable; keys in the README), ``report.md``, ``report.html`` (one
self-contained file with plots) and ``predictions/NAME.jsonl`` (every prediction, so two runs
can be compared later with ``standpoint compare``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from model.predictor import Predictor, StatementPrediction
from standpoint.adapters import DataUnavailable, load_spec
from standpoint.records import LabelledSet, RecordError, StanceRecord

from .analysis import analyse
from .baselines import baseline_predictions
from .metrics import score_records

log = logging.getLogger("standpoint.eval")
BASELINE_NAMES = ("majority", "tfidf_logreg")


def predict_set(predictor: Predictor, data: LabelledSet, progress: bool = True) -> list[StatementPrediction]:
    """Predictions for each record's labelled targets (and sentiment, where the set labels it)."""
    with_sentiment = any(r.sentiment is not None for r in data.records)
    wanted = [{t: data.targets[t] for t in r.stances} for r in data.records]
    return predictor.predict_each([r.text for r in data.records], wanted, sentiment=with_sentiment,
                                  progress=progress)


def training_records(metadata: dict, targets_file: str | None) -> list[StanceRecord] | None:
    """The model's own training data, read back from its saved config (for the baselines)."""
    from training.train import load_sets

    config = metadata.get("training_config") or {}
    try:
        records = load_sets(config.get("train", []), targets_file, config.get("max_train_records")).records
    except (DataUnavailable, RecordError, FileNotFoundError) as exc:
        log.warning("baselines skipped: the model's training data cannot be read (%s)", exc)
        return None
    return records or None


def baseline_rows(train: list[StanceRecord], data: LabelledSet, fitted: dict | None = None) -> dict:
    """Compact scores of each baseline on ``data``; a target absent from training gets no row.
    ``fitted`` keeps the baselines fitted for earlier data sets of the same run."""
    out = {}
    trained_targets = {t for r in train for t in r.stances}
    targets = sorted({t for r in data.records for t in r.stances} & trained_targets)
    if not targets:
        return out
    records = [r for r in data.records if set(r.stances) & set(targets)]
    records = [StanceRecord(id=r.id, text=r.text, stances={t: v for t, v in r.stances.items() if t in targets},
                            sentiment=r.sentiment, notes=r.notes) for r in records]
    with_sentiment = any(r.sentiment for r in records) and any(r.sentiment for r in train)
    for name in BASELINE_NAMES:
        stance_pred, sentiment_pred = baseline_predictions(name, train, records, targets, with_sentiment, fitted)
        s = score_records(records, stance_pred, sentiment_pred)
        out[name] = {
            "n": len(records),
            "pooled": {k: s["pooled"][k] for k in ("macro_f1", "f_avg")},
            "per_target_mean": s["per_target_mean"],
            "stance": {t: {k: s["stance"][t][k] for k in ("macro_f1", "f_avg", "accuracy")} for t in targets},
            "sentiment": {"macro_f1": s["sentiment"]["macro_f1"]} if s["sentiment"].get("n") else {},
        }
    return out


def write_predictions(path: Path, records, preds) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for rec, p in zip(records, preds):
            fh.write(json.dumps({"id": rec.id, **p.to_json(), "gold": rec.to_json()}, ensure_ascii=False) + "\n")


def evaluate(model_dir: str | Path, specs: list[str], out_dir: str | Path, targets_file: str | None = None,
             batch_size: int = 64, progress: bool = True, suite: str | None = None,
             baselines: bool = True, uncalibrated: bool = False, backend: str | None = None) -> dict:
    predictor = Predictor(model_dir, targets_file=targets_file, batch_size=batch_size, backend=backend)
    if uncalibrated:  # the raw softmax, to measure what temperature scaling buys
        predictor.temperature = {"stance": 1.0, "sentiment": 1.0}
    out = Path(out_dir)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    metrics = {"model": {"path": str(model_dir), "name": predictor.name, "version": predictor.version,
                         "backend": predictor.backend.name,
                         "base_encoder": predictor.metadata["base_encoder"],
                         "temperature": predictor.temperature},
               "datasets": {}}
    train = training_records(predictor.metadata, targets_file) if baselines and specs else None
    fitted: dict = {}
    for spec in specs:
        data = load_spec(spec, targets_file)
        started = time.time()
        preds = predict_set(predictor, data, progress)
        seconds = time.time() - started
        scores = analyse(data.records, preds)
        scores["seconds"] = round(seconds, 2)
        scores["statements_per_second"] = round(len(data.records) / seconds, 1) if seconds else None
        if train:
            scores["baselines"] = baseline_rows(train, data, fitted)
        metrics["datasets"][data.name] = scores
        write_predictions(out / "predictions" / f"{data.name}.jsonl", data.records, preds)
    if suite:
        from .suite import run_suite

        metrics["suite"], failures = run_suite(predictor, suite)
        (out / "suite_failures.jsonl").write_text(
            "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    from .report import render_html, render_markdown

    (out / "report.md").write_text(render_markdown(metrics), encoding="utf-8")
    (out / "report.html").write_text(render_html(metrics), encoding="utf-8")
    return metrics
