"""Bootstrap confidence intervals and paired bootstrap tests, vectorised over resamples.

Resampling is over statements (a statement's rows for all its targets move together), with a
fixed seed, so a report is reproducible. Scores are computed from confusion counts with numpy:
1,000 resamples of 5,000 statements take well under a second.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

N_RESAMPLES = 1000
SEED = 20161  # fixed: the same data give the same intervals


def _confusions(gold: np.ndarray, pred: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """(resamples, k, k) confusion counts; ``weights`` is (resamples, rows) draw counts."""
    cell = gold * k + pred
    onehot = np.zeros((len(cell), k * k))
    onehot[np.arange(len(cell)), cell] = 1.0
    return (weights @ onehot).reshape(-1, k, k)


def _scores(conf: np.ndarray, present: Sequence[int]) -> dict[str, np.ndarray]:
    """macro-F1 over ``present`` classes and F_avg over classes 0 and 1 (favor, against) per resample."""
    tp = np.diagonal(conf, axis1=1, axis2=2)
    pred_n, gold_n = conf.sum(1), conf.sum(2)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(pred_n + gold_n > 0, 2 * tp / (pred_n + gold_n), 0.0)
    return {"macro_f1": f1[:, list(present)].mean(1), "f_avg": f1[:, :2].mean(1)}


def resample_weights(n_statements: int, rows_owner: np.ndarray, n: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(n, rows) multiplicity of each row in each resample of statements."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_statements, size=(n, n_statements))
    counts = np.stack([np.bincount(d, minlength=n_statements) for d in draws])
    return counts[:, rows_owner].astype(float)


def bootstrap_ci(gold: Sequence[int], pred: Sequence[int], owner: Sequence[int], n_statements: int, k: int,
                 present: Sequence[int], seed: int = SEED, n: int = N_RESAMPLES) -> dict[str, list[float]]:
    """95% percentile intervals for macro-F1 and F_avg; rows are (gold, pred) label ids owned by statements."""
    if len(gold) == 0:
        return {}
    weights = resample_weights(n_statements, np.asarray(owner), n, seed)
    scores = _scores(_confusions(np.asarray(gold), np.asarray(pred), weights, k), present)
    return {m: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for m, v in scores.items()}


def paired_bootstrap(gold: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], owner: Sequence[int],
                     n_statements: int, k: int, present: Sequence[int], seed: int = SEED,
                     n: int = N_RESAMPLES) -> dict[str, dict[str, float]]:
    """For each metric: B - A on the data, and the two-sided paired bootstrap p-value of that difference."""
    gold, owner = np.asarray(gold), np.asarray(owner)
    full = np.ones((1, len(gold)))
    weights = resample_weights(n_statements, owner, n, seed)
    out = {}
    sa = _scores(_confusions(gold, np.asarray(pred_a), weights, k), present)
    sb = _scores(_confusions(gold, np.asarray(pred_b), weights, k), present)
    pa = _scores(_confusions(gold, np.asarray(pred_a), full, k), present)
    pb = _scores(_confusions(gold, np.asarray(pred_b), full, k), present)
    for m in sa:
        delta = float(pb[m][0] - pa[m][0])
        d = sb[m] - sa[m]
        # how often the resampled difference lands on the other side of zero (Koehn 2004), two-sided
        p = 2 * min(float((d <= 0).mean()), float((d >= 0).mean()))
        out[m] = {"a": float(pa[m][0]), "b": float(pb[m][0]), "delta": delta, "p_value": min(1.0, p)}
    return out
