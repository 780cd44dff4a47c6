"""Everything a report says about one data set, computed once from records and predictions.

``analyse`` returns the ``metrics.json`` entry of a data set: the scores of ``score_records``
plus, beside each point estimate, a bootstrap 95% interval (``ci``) and the expected calibration
error (``ece``, 15 bins) with its reliability-diagram bins; the most frequent confusions with
example texts; and breakdowns by the records' ``notes`` tags and by statement length.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

from model.calibration import ece_from_bins, reliability
from model.predictor import StatementPrediction
from standpoint.records import SENTIMENT_LABELS, STANCE_LABELS, StanceRecord

from .metrics import classification_scores, score_records
from .stats import bootstrap_ci

ECE_BINS = 15
LENGTH_BINS = ((0, 15, "5-15 words"), (16, 40, "16-40 words"), (41, 10**9, "41+ words"))


class _Rows:
    """Stance or sentiment rows of a data set: label ids, confidences and owning statement."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        self.gold: list[int] = []
        self.pred: list[int] = []
        self.conf: list[float] = []
        self.owner: list[int] = []

    def add(self, i: int, gold: str, probability: dict[str, float]):
        pred = max(probability, key=probability.get)
        self.gold.append(self.labels.index(gold))
        self.pred.append(self.labels.index(pred))
        self.conf.append(probability[pred])
        self.owner.append(i)

    def calibration(self) -> tuple[float, dict]:
        bins = reliability(self.conf, [g == p for g, p in zip(self.gold, self.pred)], ECE_BINS)
        return ece_from_bins(bins), bins

    def ci(self, n_statements: int) -> dict:
        present = sorted(set(self.gold)) or list(range(len(self.labels)))
        return bootstrap_ci(self.gold, self.pred, self.owner, n_statements, len(self.labels), present)


def analyse(records: Sequence[StanceRecord], preds: Sequence[StatementPrediction], top_confusions: int = 5,
            examples: int = 3) -> dict:
    n = len(records)
    scores = score_records(records, [{t: s.label for t, s in p.stances.items()} for p in preds],
                           [p.sentiment.label if p.sentiment else None for p in preds])
    per_target: dict[str, _Rows] = defaultdict(lambda: _Rows(STANCE_LABELS))
    pooled, senti = _Rows(STANCE_LABELS), _Rows(SENTIMENT_LABELS)
    for i, (rec, p) in enumerate(zip(records, preds)):
        for tid, gold in rec.stances.items():
            per_target[tid].add(i, gold, p.stances[tid].probability)
            pooled.add(i, gold, p.stances[tid].probability)
        if rec.sentiment is not None and p.sentiment is not None:
            senti.add(i, rec.sentiment, p.sentiment.probability)

    for tid, rows in per_target.items():
        s = scores["stance"][tid]
        s["ci"] = rows.ci(n)
        s["ece"], s["reliability"] = rows.calibration()
    if pooled.gold:
        scores["pooled"]["ci"] = pooled.ci(n)
        scores["pooled"]["ece"], _ = pooled.calibration()
    if senti.gold:
        s = scores["sentiment"]
        s["ci"] = {"macro_f1": senti.ci(n)["macro_f1"]}
        s["ece"], s["reliability"] = senti.calibration()

    scores["errors"] = confusions(records, preds, top_confusions, examples)
    scores["by_tag"] = breakdown(records, preds, lambda r: list(dict.fromkeys(r.notes)))
    scores["by_length"] = breakdown(records, preds, lambda r: [_length_bin(r.text)])
    return scores


def _length_bin(text: str) -> str:
    words = len(text.split())
    return next(name for lo, hi, name in LENGTH_BINS if lo <= words <= hi)


def confusions(records, preds, top: int, examples: int) -> dict[str, list[dict]]:
    """Per target, the most frequent (gold, predicted) errors with example statements."""
    out = {}
    by_target: dict[str, Counter] = defaultdict(Counter)
    texts: dict[tuple, list[str]] = defaultdict(list)
    for rec, p in zip(records, preds):
        for tid, gold in rec.stances.items():
            pred = p.stances[tid].label
            if pred != gold:
                by_target[tid][(gold, pred)] += 1
                if len(texts[(tid, gold, pred)]) < examples:
                    texts[(tid, gold, pred)].append(rec.text)
    for tid, counter in sorted(by_target.items()):
        out[tid] = [{"gold": g, "pred": p, "count": c, "examples": texts[(tid, g, p)]}
                    for (g, p), c in counter.most_common(top)]
    return out


def breakdown(records, preds, keys_of) -> dict[str, dict]:
    """Stance (all targets pooled) and sentiment scores for each group of statements."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        for key in keys_of(rec):
            groups[key].append(i)
    out = {}
    for key in sorted(groups):
        idx = groups[key]
        gold = [records[i].stances[t] for i in idx for t in records[i].stances]
        pred = [preds[i].stances[t].label for i in idx for t in records[i].stances]
        entry = {"n": len(idx)}
        if gold:
            s = classification_scores(gold, pred, STANCE_LABELS)
            entry.update(stance_macro_f1=s["macro_f1"], stance_accuracy=s["accuracy"])
        sg = [(records[i].sentiment, preds[i].sentiment.label) for i in idx
              if records[i].sentiment is not None and preds[i].sentiment is not None]
        if sg:
            entry["sentiment_accuracy"] = sum(g == p for g, p in sg) / len(sg)
        out[key] = entry
    return out
