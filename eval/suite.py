"""Behavioural (CheckList-style) tests for the two product targets: ``eval/suites/*.jsonl``.

One case a line, by ``type``:

- ``mft`` (minimum functionality), ``target_swap`` and ``decoupling``:
  ``{"id", "type", "text", "expect": {"stances": {TARGET: LABEL}, "sentiment": LABEL?}}``;
  passes when every expected label is predicted.
- ``inv`` (invariance: typos, swapped names, paraphrase):
  ``{"id", "type", "text", "variant", "targets": [TARGET, ...]}``; passes when the variant gets
  the same stance label as the text on every listed target.
- ``dir`` (directional: an inserted negation flips favor and against):
  ``{"id", "type", "text", "variant", "target", "expect": LABEL, "variant_expect": LABEL}``;
  passes when the text gets ``expect`` and the variant ``variant_expect``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from standpoint.records import SENTIMENT_LABELS, STANCE_LABELS

SUITE_DIR = Path(__file__).resolve().parent / "suites"
TYPES = ("mft", "inv", "dir", "target_swap", "decoupling")


class SuiteError(ValueError):
    pass


def load_cases(which: str = "all", suite_dir: Path = SUITE_DIR) -> list[dict]:
    files = sorted(suite_dir.glob("*.jsonl")) if which == "all" else [suite_dir / f"{which}.jsonl"]
    if not files or not all(f.is_file() for f in files):
        known = ", ".join(f.stem for f in sorted(suite_dir.glob("*.jsonl")))
        raise SuiteError(f"suite {which!r} not found in {suite_dir} (known: all, {known})")
    cases = []
    for f in files:
        for lineno, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    case = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SuiteError(f"{f}:{lineno}: bad JSON: {exc.msg}") from None
                _check(case, f"{f}:{lineno}")
                cases.append(case)
    return cases


def _check(case: dict, where: str) -> None:
    t = case.get("type")
    if t not in TYPES:
        raise SuiteError(f"{where}: field 'type': {t!r} is not one of {', '.join(TYPES)}")
    if not isinstance(case.get("text"), str) or not case["text"].strip():
        raise SuiteError(f"{where}: field 'text': missing or empty")
    if t in ("inv", "dir") and not isinstance(case.get("variant"), str):
        raise SuiteError(f"{where}: field 'variant': needed for {t}")
    if t == "dir" and not (case.get("expect") in STANCE_LABELS and case.get("variant_expect") in STANCE_LABELS):
        raise SuiteError(f"{where}: fields 'expect'/'variant_expect': stance labels needed for dir")
    if t in ("mft", "target_swap", "decoupling"):
        exp = case.get("expect") or {}
        if not exp.get("stances") or any(v not in STANCE_LABELS for v in exp["stances"].values()) or \
                exp.get("sentiment", "neutral") not in SENTIMENT_LABELS:
            raise SuiteError(f"{where}: field 'expect': needs 'stances' with valid labels")


def _targets(case: dict) -> list[str]:
    if case["type"] == "inv":
        return case["targets"]
    if case["type"] == "dir":
        return [case["target"]]
    return list(case["expect"]["stances"])


def run_suite(predictor, which: str = "all", suite_dir: Path = SUITE_DIR) -> tuple[dict, list[dict]]:
    """({type: {"n", "pass_rate"}}, failed cases with what was predicted).

    ``predictor`` needs only ``predict_each(texts, targets, sentiment=...)`` and ``targets``.
    """
    cases = load_cases(which, suite_dir)
    texts, wanted = [], []
    for case in cases:
        targets = {t: predictor.targets[t] for t in _targets(case)}
        for text in [case["text"], case.get("variant")]:
            if text is not None:
                texts.append(text)
                wanted.append(targets)
    preds = iter(predictor.predict_each(texts, wanted, sentiment=True))
    tally: dict[str, list[bool]] = defaultdict(list)
    failures = []
    for case in cases:
        p = next(preds)
        v = next(preds) if case.get("variant") is not None else None
        got = {t: p.stances[t].label for t in p.stances}
        if case["type"] == "inv":
            ok = all(p.stances[t].label == v.stances[t].label for t in case["targets"])
            seen = {"text": got, "variant": {t: v.stances[t].label for t in v.stances}}
        elif case["type"] == "dir":
            t = case["target"]
            ok = p.stances[t].label == case["expect"] and v.stances[t].label == case["variant_expect"]
            seen = {"text": got, "variant": {t: v.stances[t].label}}
        else:
            exp = case["expect"]
            ok = all(got[t] == label for t, label in exp["stances"].items())
            if "sentiment" in exp:
                ok = ok and p.sentiment.label == exp["sentiment"]
            seen = {"stances": got, "sentiment": p.sentiment.label}
        tally[case["type"]].append(ok)
        if not ok:
            failures.append({**case, "predicted": seen})
    summary = {t: {"n": len(r), "pass_rate": sum(r) / len(r)} for t, r in sorted(tally.items())}
    return summary, failures
