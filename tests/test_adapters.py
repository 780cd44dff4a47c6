"""Each adapter's row counts and label distribution on ../shared/data."""

from collections import Counter

import pytest

from standpoint.adapters import load_spec

from .conftest import shared_data_or_skip

EXPECTED = {
    "semeval-train": (2814, {"against": 1342, "favor": 731, "none": 741}),
    "semeval-a-test": (1249, {"against": 715, "favor": 304, "none": 230}),
    "semeval-b-test": (707, {"against": 299, "favor": 148, "none": 260}),
    "tweeteval-train": (2620, {"against": 1254, "favor": 678, "none": 688}),
    "tweeteval-val": (294, {"against": 141, "favor": 75, "none": 78}),
    "tweeteval-test": (1249, {"against": 715, "favor": 304, "none": 230}),
    "pstance-train": (17224, {"against": 8877, "favor": 8347}),
    "pstance-test": (2157, {"against": 1125, "favor": 1032}),
    "ruw-train": (4200, {"against": 3140, "favor": 2723, "none": 2537}),
    "ruw-test": (1200, {"against": 965, "favor": 881, "none": 554}),
    "vast-dev": (2062, {"against": 684, "favor": 681, "none": 697}),
    "vast-test": (3006, {"against": 1018, "favor": 944, "none": 1044}),
    "vast-test-zeroshot": (1460, {"against": 490, "favor": 451, "none": 519}),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adapter_counts_and_labels(name):
    shared_data_or_skip()
    data = load_spec(name)
    rows, labels = EXPECTED[name]
    assert len(data.records) == rows
    assert dict(Counter(label for r in data.records for label in r.stances.values())) == labels
    assert len({r.id for r in data.records}) == rows
    used = {t for r in data.records for t in r.stances}
    assert used <= set(data.targets) and all(data.targets[t].strip() for t in used)


@pytest.mark.shared_data
def test_semeval_sentiment_and_ruw_two_targets():
    shared_data_or_skip()
    semeval = load_spec("semeval-train")
    assert Counter(r.sentiment for r in semeval.records) == {"negative": 1700, "positive": 928, "neutral": 186}
    ruw = load_spec("ruw-val")
    assert all(set(r.stances) == {"russia", "ukraine"} for r in ruw.records)
