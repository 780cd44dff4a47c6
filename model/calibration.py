"""Temperature scaling (Guo et al., 2017): one temperature per head, fitted on validation logits."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    return float(F.cross_entropy(torch.as_tensor(logits, dtype=torch.float64) / temperature,
                                 torch.as_tensor(labels)).item())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimising validation NLL of softmax(logits / T); 1.0 when there is nothing to fit."""
    if len(labels) < 2:
        return 1.0
    x = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.exp().item())
    return t if np.isfinite(t) and 0.05 <= t <= 20 else 1.0


def reliability(confidence, correct, bins: int = 15) -> dict:
    """Equal-width confidence bins: per bin the mean confidence, the accuracy and the count."""
    conf, corr = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    idx = np.clip(np.digitize(conf, np.linspace(0.0, 1.0, bins + 1)[1:-1], right=True), 0, bins - 1)
    out = {"confidence": [], "accuracy": [], "count": []}
    for b in range(bins):
        sel = idx == b
        out["count"].append(int(sel.sum()))
        out["confidence"].append(float(conf[sel].mean()) if sel.any() else None)
        out["accuracy"].append(float(corr[sel].mean()) if sel.any() else None)
    return out


def ece_from_bins(bins: dict) -> float:
    """ECE: sum over bins of |accuracy - confidence| weighted by the bin's share of rows."""
    total = sum(bins["count"])
    return float(sum(n / total * abs(a - c) for n, a, c in zip(bins["count"], bins["accuracy"], bins["confidence"])
                     if n)) if total else 0.0


def expected_calibration_error(confidence, correct, bins: int = 15) -> float:
    """ECE with equal-width confidence bins."""
    return ece_from_bins(reliability(confidence, correct, bins))
