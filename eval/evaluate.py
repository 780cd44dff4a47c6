"""standpoint eval --model DIR --data SPEC [SPEC ...] --out DIR

Scores a saved model on contract JSONL files or named external sets and writes
``metrics.json`` (machine-readable; keys documented in the README), ``report.md`` and
``predictions/NAME.jsonl`` (every prediction, for later comparison).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from model.predictor import Predictor
from standpoint.adapters import load_spec
from standpoint.records import LabelledSet

from .metrics import score_records


def predict_set(predictor: Predictor, data: LabelledSet, progress: bool = True):
    """Predictions for each record's labelled targets (and sentiment, where the set labels it)."""
    with_sentiment = any(r.sentiment is not None for r in data.records)
    wanted = [{t: data.targets[t] for t in r.stances} for r in data.records]
    preds = predictor.predict_each([r.text for r in data.records], wanted, sentiment=with_sentiment,
                                   progress=progress)
    return preds


def evaluate(model_dir: str | Path, specs: list[str], out_dir: str | Path, targets_file: str | None = None,
             batch_size: int = 64, progress: bool = True) -> dict:
    predictor = Predictor(model_dir, targets_file=targets_file, batch_size=batch_size)
    out = Path(out_dir)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    metrics = {"model": {"path": str(model_dir), "name": predictor.name, "version": predictor.version,
                         "base_encoder": predictor.metadata["base_encoder"]},
               "datasets": {}}
    for spec in specs:
        data = load_spec(spec, targets_file)
        started = time.time()
        preds = predict_set(predictor, data, progress)
        seconds = time.time() - started
        scores = score_records(data.records, [{t: s.label for t, s in p.stances.items()} for p in preds],
                               [p.sentiment.label if p.sentiment else None for p in preds])
        scores["seconds"] = round(seconds, 2)
        scores["statements_per_second"] = round(len(data.records) / seconds, 1) if seconds else None
        metrics["datasets"][data.name] = scores
        with (out / "predictions" / f"{data.name}.jsonl").open("w", encoding="utf-8") as fh:
            for rec, p in zip(data.records, preds):
                fh.write(json.dumps({"id": rec.id, **p.to_json(), "gold": rec.to_json()}, ensure_ascii=False) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(metrics), encoding="utf-8")
    return metrics


def _pct(x) -> str:
    return f"{100 * x:.1f}" if isinstance(x, (int, float)) else "-"


def render_markdown(metrics: dict) -> str:
    m = metrics["model"]
    lines = [f"# Standpoint evaluation: {m['name']} ({m['version']})", "",
             f"Model folder `{m['path']}`, base encoder {m['base_encoder']}. Scores in percent. "
             "F_avg is the official SemEval-2016 score (mean F1 of favor and against); "
             "pooled pools all targets' rows, per-target mean averages per-target scores.", ""]
    for name, d in metrics["datasets"].items():
        lines += [f"## {name} ({d['n']} statements, {d['seconds']} s)", "",
                  "| target | n | macro-F1 | F_avg | accuracy | F1 favor | F1 against | F1 none |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for tid, s in d["stance"].items():
            pc = s["per_class"]
            lines.append(f"| {tid} | {s['n']} | {_pct(s['macro_f1'])} | {_pct(s['f_avg'])} | {_pct(s['accuracy'])} | "
                         f"{_pct(pc['favor']['f1'])} | {_pct(pc['against']['f1'])} | {_pct(pc['none']['f1'])} |")
        p, ptm = d["pooled"], d["per_target_mean"]
        lines.append(f"| **pooled** | {p['n']} | {_pct(p['macro_f1'])} | {_pct(p['f_avg'])} | | | | |")
        lines.append(f"| **per-target mean** | | {_pct(ptm['macro_f1'])} | {_pct(ptm['f_avg'])} | | | | |")
        s = d["sentiment"]
        if s.get("n"):
            pc = s["per_class"]
            lines += ["", f"Sentiment (n={s['n']}): macro-F1 {_pct(s['macro_f1'])}, accuracy {_pct(s['accuracy'])}; "
                      f"F1 positive {_pct(pc['positive']['f1'])}, negative {_pct(pc['negative']['f1'])}, "
                      f"neutral {_pct(pc['neutral']['f1'])}."]
        lines.append("")
    return "\n".join(lines)
