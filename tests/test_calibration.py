"""Temperature scaling and ECE."""

import numpy as np
import pytest

from model.calibration import expected_calibration_error, fit_temperature, nll


def test_ece_near_zero_when_calibrated_and_large_when_overconfident():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.34, 1.0, 20000)
    correct = rng.uniform(size=conf.size) < conf          # right exactly as often as claimed
    assert expected_calibration_error(conf, correct) < 0.02
    overconfident = np.full(5000, 0.99)
    coin = rng.uniform(size=5000) < 0.6                   # claims 99%, right 60% of the time
    assert expected_calibration_error(overconfident, coin) == pytest.approx(0.39, abs=0.03)


def test_temperature_scaling_lowers_nll_of_overconfident_logits():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 3000)
    logits = rng.normal(size=(3000, 3))
    logits[np.arange(3000), labels] += 1.0
    logits *= 6.0                                          # far too sharp
    t = fit_temperature(logits, labels)
    assert t > 2.0
    assert nll(logits, labels, t) < nll(logits, labels) - 0.1


def test_trained_model_stores_fitted_temperatures(trained):
    _, _, metadata, _ = trained
    for head in ("stance", "sentiment"):
        cal = metadata["calibration"][head]
        assert metadata["temperature"][head] == cal["temperature"] > 0
        assert cal["nll_after"] <= cal["nll_before"] + 1e-6
