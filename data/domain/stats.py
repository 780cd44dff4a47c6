"""Figures for DATACARD.md: sizes, topics, label shares, hard cases, genres, lengths per split.

    .venv/bin/python data/domain/stats.py > runs/domain-stats.md
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from standpoint.corpus import PRODUCT_TARGETS, label_shares  # noqa: E402
from standpoint.records import load_jsonl  # noqa: E402

TAGS = ("direct", "reported", "act", "negation", "sentiment_contrast", "sarcasm", "implicit", "distractor",
        "keyword_no_stance", "both_targets", "background")
GENRES = ("news", "quote", "headline", "official", "oped", "social")


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> int:
    splits = {s: load_jsonl(HERE / f"{s}.jsonl") for s in ("train", "dev", "test")}
    splits["all"] = [r for s in ("train", "dev", "test") for r in splits[s]]
    names = list(splits)
    print("| | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    print("| records | " + " | ".join(str(len(v)) for v in splits.values()) + " |")
    print("| topics | " + " | ".join(str(len({r.topic for r in v})) for v in splits.values()) + " |")
    shares = {s: label_shares(v) for s, v in splits.items()}
    for key in (*PRODUCT_TARGETS, "sentiment"):
        for lab in shares["all"][key]:
            print(f"| {key} {lab} | " + " | ".join(pct(shares[s][key][lab]) for s in names) + " |")
    for s, v in splits.items():
        both = sum(all(r.stances[t] != "none" for t in PRODUCT_TARGETS) for r in v) / len(v)
        shares[s]["both"] = both
    print("| non-none on both targets | " + " | ".join(pct(shares[s]["both"]) for s in names) + " |")
    for tag in TAGS:
        print(f"| tag `{tag}` | " + " | ".join(pct(sum(tag in r.notes for r in v) / len(v)) for v in splits.values()) + " |")
    for g in GENRES:
        print(f"| genre {g} | " + " | ".join(pct(sum(r.genre == g for r in v) / len(v)) for v in splits.values()) + " |")
    for lo, hi in ((5, 15), (16, 40), (41, 80)):
        print(f"| {lo}-{hi} words | " + " | ".join(pct(sum(lo <= len(r.text.split()) <= hi for r in v) / len(v))
                                              for v in splits.values()) + " |")
    print()
    for s in ("train", "dev", "test"):
        counts = Counter(r.topic for r in splits[s])
        print(f"- **{s}** topics: " + ", ".join(f"{t} ({n})" for t, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
