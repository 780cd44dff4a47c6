"""standpoint compare A B --data SPEC [SPEC ...] --out DIR

A and B are model folders (predicted now) or ``metrics.json`` files of earlier ``standpoint eval``
runs (their saved ``predictions/NAME.jsonl`` are read). For each data set: pooled stance macro-F1
and F_avg, per-target macro-F1 and sentiment macro-F1 of both, B - A, and a two-sided paired
bootstrap p-value (1,000 seeded resamples of statements).
"""

from __future__ import annotations

import json
from pathlib import Path

from model.predictor import Predictor
from standpoint.adapters import load_spec
from standpoint.records import SENTIMENT_LABELS, STANCE_LABELS, LabelledSet

from .evaluate import predict_set
from .stats import paired_bootstrap


def _labels_from_model(model_dir: str, data: LabelledSet, targets_file) -> dict[str, dict]:
    predictor = Predictor(model_dir, targets_file=targets_file, batch_size=64)
    preds = predict_set(predictor, data, progress=True)
    return {r.id: {"stances": {t: s.label for t, s in p.stances.items()},
                   "sentiment": p.sentiment.label if p.sentiment else None} for r, p in zip(data.records, preds)}


def _labels_from_run(metrics_json: Path, data: LabelledSet) -> dict[str, dict]:
    path = metrics_json.parent / "predictions" / f"{data.name}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: that eval run has no predictions for {data.name}; run standpoint eval on it")
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out[row["id"]] = {"stances": {t: s["label"] for t, s in row["stances"].items()},
                          "sentiment": row["sentiment"]["label"] if row.get("sentiment") else None}
    missing = [r.id for r in data.records if r.id not in out]
    if missing:
        raise ValueError(f"{path}: no prediction for {len(missing)} records (e.g. {missing[:3]}): "
                         "the run used different data")
    return out


def _labels(source: str, data: LabelledSet, targets_file) -> dict[str, dict]:
    p = Path(source)
    return _labels_from_run(p, data) if p.name == "metrics.json" or p.suffix == ".json" else \
        _labels_from_model(source, data, targets_file)


def _paired(records, a, b, key_rows, labels) -> dict:
    gold, pa, pb, owner = [], [], [], []
    for i, rec in enumerate(records):
        for g, x, y in key_rows(rec, a[rec.id], b[rec.id]):
            gold.append(labels.index(g))
            pa.append(labels.index(x))
            pb.append(labels.index(y))
            owner.append(i)
    if not gold:
        return {}
    present = sorted(set(gold))
    return paired_bootstrap(gold, pa, pb, owner, len(records), len(labels), present)


def compare(a: str, b: str, specs: list[str], out_dir: str | Path, targets_file=None) -> dict:
    result = {"a": str(a), "b": str(b), "datasets": {}}
    for spec in specs:
        data = load_spec(spec, targets_file)
        la, lb = _labels(a, data, targets_file), _labels(b, data, targets_file)
        recs = data.records
        rows = {}
        pooled = _paired(recs, la, lb, lambda r, x, y: [(g, x["stances"][t], y["stances"][t])
                                                          for t, g in r.stances.items()], STANCE_LABELS)
        for m, v in pooled.items():
            rows[f"pooled {m}"] = v
        for target in sorted({t for r in recs for t in r.stances}):
            per = _paired(recs, la, lb, lambda r, x, y, t=target: [(r.stances[t], x["stances"][t], y["stances"][t])]
                          if t in r.stances else [], STANCE_LABELS)
            if per:
                rows[f"{target} macro_f1"] = per["macro_f1"]
        senti = _paired(recs, la, lb, lambda r, x, y: [(r.sentiment, x["sentiment"], y["sentiment"])]
                        if r.sentiment and x["sentiment"] and y["sentiment"] else [], SENTIMENT_LABELS)
        if senti:
            rows["sentiment macro_f1"] = senti["macro_f1"]
        result["datasets"][data.name] = rows
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Compare: A = `{a}`, B = `{b}`", "", "Two-sided paired bootstrap over statements, 1,000 seeded resamples.", ""]
    for name, rows in result["datasets"].items():
        lines += [f"## {name}", "", "| metric | A | B | B - A | p |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {k} | {r['a']:.4f} | {r['b']:.4f} | {r['delta']:+.4f} | {r['p_value']:.3f} |" for k, r in rows.items()]
        lines.append("")
    (out / "compare.md").write_text("\n".join(lines), encoding="utf-8")
    return result
