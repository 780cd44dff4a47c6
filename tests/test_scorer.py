"""The scorer reproduces the official SemEval-2016 eval.pl values (../shared/data/README.md)."""

from collections import Counter

import pytest

from eval.metrics import f_avg, score_records, stance_scores
from standpoint.adapters import UPPER_STANCE, load_spec

from .conftest import shared_data_or_skip


def test_f_avg_by_hand():
    gold = ["favor", "favor", "against", "none"]
    pred = ["favor", "against", "against", "favor"]
    # favor: P=1/2, R=1/2 -> 0.5; against: P=1/2, R=1 -> 2/3
    assert f_avg(gold, pred) == pytest.approx((0.5 + 2 / 3) / 2)
    assert f_avg(["none"], ["none"]) == 0.0  # zero denominators score 0, never a crash
    s = stance_scores(gold, pred)
    assert s["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]


@pytest.mark.shared_data
def test_official_regression_values():
    root = shared_data_or_skip()
    test = load_spec("semeval-a-test")
    lines = (root / "semeval2016_task6" / "guess_taskA_tweeteval_robrt.txt").read_text(encoding="latin-1")
    guess = [UPPER_STANCE[line.split("\t")[-1].strip()] for line in lines.splitlines()[1:] if line.strip()]
    assert len(guess) == len(test.records) == 1249
    preds = [{t: g for t in r.stances} for r, g in zip(test.records, guess)]
    m = score_records(test.records, preds, [None] * len(preds))
    assert round(m["pooled"]["f_avg"], 4) == 0.7244

    train = load_spec("semeval-train")
    majority = {t: Counter(r.stances[t] for r in train.records if t in r.stances).most_common(1)[0][0]
                for t in test.targets}
    m = score_records(test.records, [{t: majority[t] for t in r.stances} for r in test.records],
                      [None] * len(test.records))
    assert round(m["pooled"]["f_avg"], 4) == 0.6522
    assert round(m["per_target_mean"]["f_avg"], 4) == 0.4009
