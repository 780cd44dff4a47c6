"""The in-repo domain corpus keeps its promises (data/domain/DATACARD.md)."""

from collections import Counter

import pytest

from standpoint.corpus import PRODUCT_TARGETS, near_duplicates, share_violations
from standpoint.records import load_jsonl
from standpoint.targets import REPO_ROOT, load_targets

DOMAIN = REPO_ROOT / "data" / "domain"
SPLITS = ("train", "dev", "test")
GENRES = {"news", "quote", "headline", "official", "oped", "social"}
HARD_CASES = ("reported", "negation", "sentiment_contrast", "sarcasm", "implicit", "distractor", "keyword_no_stance")


@pytest.fixture(scope="module")
def corpus():
    return {s: load_jsonl(DOMAIN / f"{s}.jsonl", known_targets=load_targets()) for s in SPLITS}


def test_sizes_and_fields(corpus):
    assert sum(len(v) for v in corpus.values()) >= 5000
    assert len(corpus["dev"]) >= 700 and len(corpus["test"]) >= 700
    for records in corpus.values():
        for r in records:
            assert set(r.stances) == set(PRODUCT_TARGETS) and r.sentiment is not None, r.id
            assert r.topic and r.genre in GENRES and r.notes, r.id
            assert 5 <= len(r.text.split()) <= 80, r.id


def test_ids_unique_and_no_text_in_two_splits(corpus):
    ids = [r.id for v in corpus.values() for r in v]
    assert len(ids) == len(set(ids))
    seen = {}
    for split, records in corpus.items():
        for r in records:
            key = " ".join(r.text.lower().split())
            assert seen.setdefault(key, split) == split, f"{r.id} in {seen[key]} and {split}"


def test_no_near_duplicates_anywhere(corpus):
    records = [r for v in corpus.values() for r in v]
    pairs = near_duplicates([r.text for r in records], threshold=0.6, n=5)
    assert not pairs, [(records[i].id, records[j].id, round(s, 2)) for i, j, s in pairs[:10]]


def test_splits_are_topic_disjoint_with_unseen_topics(corpus):
    topics = {s: {r.topic for r in v} for s, v in corpus.items()}
    assert topics["dev"] - topics["train"] and topics["test"] - topics["train"]
    assert not topics["dev"] & topics["test"]


def test_label_shares_near_targets(corpus):
    records = [r for v in corpus.values() for r in v]
    assert share_violations(records) == []
    both = sum(all(r.stances[t] != "none" for t in PRODUCT_TARGETS) for r in records)
    assert both / len(records) >= 0.10


def test_hard_cases_and_genres_covered(corpus):
    records = [r for v in corpus.values() for r in v]
    tags = Counter(t for r in records for t in set(r.notes))
    for tag in HARD_CASES:
        assert tags[tag] / len(records) >= 0.05, (tag, tags[tag])
    genres = Counter(r.genre for r in records)
    assert set(genres) == GENRES
    for r in records:
        if "distractor" in r.notes:
            assert all(r.stances[t] == "none" for t in PRODUCT_TARGETS), r.id
