"""Inter-annotator agreement between the corpus labels and the blind second pass.

    .venv/bin/python data/domain/agreement.py [--blind data/domain/annotation/blind_pass.jsonl]

The blind pass holds records labelled by a second annotator who saw only
../shared/ANNOTATION.md and the texts. Prints Cohen's kappa per target and for sentiment and
writes every disagreement to ``annotation/disagreements.jsonl`` for adjudication.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

HERE = Path(__file__).resolve().parent
KEYS = ("foreign_military_presence", "recognition", "sentiment")


def _label(rec: dict, key: str) -> str:
    return rec["sentiment"] if key == "sentiment" else rec["stances"][key]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blind", default=str(HERE / "annotation" / "blind_pass.jsonl"))
    ap.add_argument("--corpus", nargs="+", default=[str(HERE / "raw")])
    ap.add_argument("--out", default=str(HERE / "annotation" / "disagreements.jsonl"))
    args = ap.parse_args(argv)
    corpus = {}
    for path in args.corpus:
        files = sorted(Path(path).glob("*.jsonl")) if Path(path).is_dir() else [Path(path)]
        for f in files:
            for line in f.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    rec = json.loads(line)
                    corpus[rec["id"]] = rec
    blind = [json.loads(line) for line in Path(args.blind).read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [b["id"] for b in blind if b["id"] not in corpus]
    if missing:
        sys.exit(f"blind-pass ids not in the corpus: {missing[:5]}")
    result, disagreements = {"n": len(blind)}, []
    for key in KEYS:
        a = [_label(corpus[b["id"]], key) for b in blind]
        b_ = [_label(b, key) for b in blind]
        result[key] = {"kappa": round(float(cohen_kappa_score(a, b_)), 4),
                       "agreement": round(sum(x == y for x, y in zip(a, b_)) / len(a), 4)}
    for b in blind:
        c = corpus[b["id"]]
        diff = {k: {"corpus": _label(c, k), "blind": _label(b, k)} for k in KEYS if _label(c, k) != _label(b, k)}
        if diff:
            disagreements.append({"id": b["id"], "text": c["text"], "diff": diff})
    Path(args.out).write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in disagreements))
    print(json.dumps(result, indent=2))
    print(f"{len(disagreements)} records with a disagreement -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
