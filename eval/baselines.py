"""Baselines scored beside a model: majority class, a keyword-only rule, TF-IDF + logistic regression.

Each is fitted per target (and for sentiment) on training records and predicts labels for texts.
The keyword rule is the corpus's shortcut check: if knowing only which target keywords occur
predicts the stance well, the data teach keywords, not stance.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline

from standpoint.records import StanceRecord

# Words that name the target (the "target keywords").
TARGET_KEYWORDS = {
    "foreign_military_presence": [
        "troop", "base", "military", "force", "soldier", "deploy", "presence", "garrison", "contingent", "marine",
        "battalion", "brigade", "contractor", "mercenar", "peacekeep", "army", "naval", "airbase"],
    "recognition": ["recogni", "ambassador", "embassy", "diplomatic", "credential"],
}
# Stance-bearing cue words, added only by the stricter diagnostic table.
CUE_WORDS = {
    "foreign_military_presence": ["withdraw", "occupation", "station", "expel", "leave", "host", "welcome"],
    "recognition": ["legitima", "sovereign", "statehood", "independence", "de facto", "government", "reject"],
}
SENTIMENT = "sentiment"


def _gold(records: Sequence[StanceRecord], target: str) -> tuple[list[str], list[str]]:
    pairs = [(r.text, r.sentiment if target == SENTIMENT else r.stances.get(target)) for r in records]
    pairs = [(t, y) for t, y in pairs if y is not None]
    return [t for t, _ in pairs], [y for _, y in pairs]


class MajorityBaseline:
    def fit(self, records: Sequence[StanceRecord], target: str) -> "MajorityBaseline":
        _, labels = _gold(records, target)
        self.label = Counter(labels).most_common(1)[0][0]
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.label] * len(texts)


class KeywordRule:
    """The shortcut check: label by whether any target keyword occurs (the majority training label
    of statements with a keyword, or of those without)."""

    def __init__(self, keywords: Sequence[str] | None = None):
        self.keywords = keywords

    def _signature(self, text: str) -> frozenset[str]:
        low = text.lower()
        found = [k for k in self.keywords if re.search(r"\b" + re.escape(k), low)]
        return self._key(found)

    @staticmethod
    def _key(found: list[str]) -> frozenset[str]:
        return frozenset(["keyword"]) if found else frozenset()

    def default_keywords(self, target: str) -> list[str]:
        return TARGET_KEYWORDS[target]

    def fit(self, records: Sequence[StanceRecord], target: str) -> "KeywordRule":
        if self.keywords is None:
            self.keywords = self.default_keywords(target)
        texts, labels = _gold(records, target)
        signatures = [self._signature(t) for t in texts]
        by_sig: dict[frozenset, Counter] = {}
        for sig, label in zip(signatures, labels):
            by_sig.setdefault(sig, Counter())[label] += 1
        self.table = {sig: c.most_common(1)[0][0] for sig, c in by_sig.items()}
        any_kw = Counter(label for sig, label in zip(signatures, labels) if sig)
        self.fallback_kw = any_kw.most_common(1)[0][0] if any_kw else Counter(labels).most_common(1)[0][0]
        self.fallback = self.table.get(frozenset(), Counter(labels).most_common(1)[0][0])
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        out = []
        for text in texts:
            sig = self._signature(text)
            out.append(self.table.get(sig, self.fallback_kw if sig else self.fallback))
        return out


class KeywordTable(KeywordRule):
    """A stricter diagnostic: the majority training label for each *set* of keywords present,
    over the target keywords plus stance-bearing cue words (a small bag-of-keywords classifier)."""

    @staticmethod
    def _key(found: list[str]) -> frozenset[str]:
        return frozenset(found)

    def default_keywords(self, target: str) -> list[str]:
        return TARGET_KEYWORDS[target] + CUE_WORDS[target]


class TfidfBaseline:
    """Word (1-2) + char_wb (2-5) n-gram TF-IDF with a class-balanced logistic regression."""

    def fit(self, records: Sequence[StanceRecord], target: str) -> "TfidfBaseline":
        texts, labels = _gold(records, target)
        features = FeatureUnion([
            ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, lowercase=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
        ])
        self.pipe = make_pipeline(features, LogisticRegression(max_iter=2000, C=5.0, class_weight="balanced"))
        if len(set(labels)) < 2:
            self.constant = labels[0]
        else:
            self.constant = None
            self.pipe.fit(texts, labels)
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        if self.constant is not None:
            return [self.constant] * len(texts)
        return list(self.pipe.predict(list(texts)))


BASELINES = {"majority": MajorityBaseline, "keyword_rule": KeywordRule, "keyword_table": KeywordTable,
             "tfidf_logreg": TfidfBaseline}


def baseline_predictions(name: str, train: Sequence[StanceRecord], test: Sequence[StanceRecord],
                         targets: Sequence[str], with_sentiment: bool,
                         fitted: dict | None = None) -> tuple[list[dict], list]:
    """(stance predictions per record, sentiment predictions) in the shape ``score_records`` takes.

    ``fitted`` caches each (baseline, target) fitted on ``train``, for reuse on further test sets.
    """
    fitted = {} if fitted is None else fitted

    def model_for(target: str):
        if (name, target) not in fitted:
            fitted[(name, target)] = BASELINES[name]().fit(train, target)
        return fitted[(name, target)]

    stance_pred: list[dict] = [{} for _ in test]
    for target in targets:
        rows = [i for i, r in enumerate(test) if target in r.stances]
        if not rows:
            continue
        for i, label in zip(rows, model_for(target).predict([test[i].text for i in rows])):
            stance_pred[i][target] = label
    sentiment_pred: list = [None] * len(test)
    if with_sentiment and any(r.sentiment for r in train):
        sentiment_pred = model_for(SENTIMENT).predict([r.text for r in test]) \
            if not name.startswith("keyword") else [None] * len(test)
    return stance_pred, sentiment_pred


def shortcut_report(train_path: str, test_path: str) -> dict:
    """Macro-F1 per target (and sentiment) of each baseline trained on ``train_path``, scored on ``test_path``."""
    from standpoint.records import load_jsonl

    from .metrics import score_records

    train, test = load_jsonl(train_path), load_jsonl(test_path)
    targets = sorted({t for r in test for t in r.stances})
    report = {}
    for name in BASELINES:
        stance_pred, sentiment_pred = baseline_predictions(name, train, test, targets, with_sentiment=True)
        scores = score_records(test, stance_pred, sentiment_pred)
        report[name] = {**{t: round(scores["stance"][t]["macro_f1"], 4) for t in targets},
                        "sentiment": round(scores["sentiment"]["macro_f1"], 4) if scores["sentiment"].get("n") else None}
    return report


def main(argv=None) -> int:
    """python -m eval.baselines --train data/domain/train.jsonl --test data/domain/test.jsonl [--out F]"""
    import argparse
    import json

    ap = argparse.ArgumentParser(description="Shortcut check: baselines' macro-F1 per target on a test file")
    ap.add_argument("--train", default="data/domain/train.jsonl")
    ap.add_argument("--test", default="data/domain/test.jsonl")
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args(argv)
    report = shortcut_report(args.train, args.test)
    cols = list(next(iter(report.values())))
    print("| baseline | " + " | ".join(cols) + " |")
    print("| --- |" + " ---: |" * len(cols))
    for name, row in report.items():
        print(f"| {name} | " + " | ".join("-" if row[c] is None else f"{row[c]:.3f}" for c in cols) + " |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
