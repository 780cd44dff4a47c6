"""Stance and sentiment metrics, with the official SemEval-2016 Task 6 score.

``f_avg`` is the official score: the mean of F1(favor) and F1(against), with ``none`` counting
only through those two classes; precision or recall with a zero denominator is 0.
``pooled`` pools every (record, target) row of every target, as the official scorer does;
``per_target_mean`` averages per-target scores, as many papers do instead.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from standpoint.records import SENTIMENT_LABELS, STANCE_LABELS, StanceRecord


def _per_class(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict:
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=list(labels), zero_division=0)
    return {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)}


def _macro_f1(per_class: dict, gold: Sequence[str]) -> float:
    """Macro-F1 over the labels that occur in gold (P-Stance has no ``none``)."""
    present = [lab for lab in per_class if per_class[lab]["support"] > 0] or list(per_class)
    return sum(per_class[lab]["f1"] for lab in present) / len(present)


def f_avg(gold: Sequence[str], pred: Sequence[str]) -> float:
    per = _per_class(gold, pred, ("favor", "against"))
    return (per["favor"]["f1"] + per["against"]["f1"]) / 2


def classification_scores(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict:
    per = _per_class(gold, pred, labels)
    return {
        "n": len(gold),
        "macro_f1": _macro_f1(per, gold),
        "accuracy": float(accuracy_score(gold, pred)) if gold else 0.0,
        "per_class": per,
        "confusion": {"labels": list(labels),
                      "matrix": confusion_matrix(gold, pred, labels=list(labels)).tolist() if gold else []},
    }


def stance_scores(gold: Sequence[str], pred: Sequence[str]) -> dict:
    out = classification_scores(gold, pred, STANCE_LABELS)
    out["f_avg"] = f_avg(gold, pred)
    return out


def sentiment_scores(gold: Sequence[str], pred: Sequence[str]) -> dict:
    return classification_scores(gold, pred, SENTIMENT_LABELS)


def score_records(records: Sequence[StanceRecord], stance_pred: Sequence[dict[str, str]],
                  sentiment_pred: Sequence[str | None]) -> dict:
    """Metrics for one data set. Unlabelled targets and sentiments are skipped, never read as none."""
    by_target: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for rec, preds in zip(records, stance_pred):
        for tid, gold in rec.stances.items():
            by_target[tid][0].append(gold)
            by_target[tid][1].append(preds[tid])
    stance = {tid: stance_scores(g, p) for tid, (g, p) in sorted(by_target.items())}
    all_gold = [x for g, _ in by_target.values() for x in g]
    all_pred = [x for _, p in by_target.values() for x in p]
    pooled_scores = stance_scores(all_gold, all_pred)
    pooled = {"n": len(all_gold), "macro_f1": pooled_scores["macro_f1"], "f_avg": pooled_scores["f_avg"]}
    per_target_mean = {k: (sum(s[k] for s in stance.values()) / len(stance) if stance else 0.0)
                       for k in ("macro_f1", "f_avg")}
    scored = [(r.sentiment, p) for r, p in zip(records, sentiment_pred) if r.sentiment is not None and p is not None]
    s_gold, s_pred = [g for g, _ in scored], [p for _, p in scored]
    sentiment = sentiment_scores(s_gold, s_pred) if s_gold else {"n": 0}
    return {"n": len(records), "stance": stance, "pooled": pooled, "per_target_mean": per_target_mean,
            "sentiment": sentiment}
