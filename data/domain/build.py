"""Assemble the domain corpus from the writers' parts into topic-disjoint splits.

    .venv/bin/python data/domain/build.py [--raw data/domain/raw] [--splits data/domain/splits.yaml]

Reads every ``raw/part-*.jsonl`` (hand-written batches, one per writer), validates each record
against the contract, drops the later record of every near-duplicate pair (normalised word
5-gram Jaccard > 0.6), applies ``adjudication.jsonl`` (label corrections settled after the
blind second pass), leaves out the records listed in ``excluded.jsonl`` (each with its
reason), and writes ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl``: whole topics
go to one split, as listed in ``splits.yaml``, so dev and test measure unseen stories.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from standpoint.corpus import label_shares, near_duplicates, share_violations  # noqa: E402
from standpoint.records import StanceRecord, load_jsonl, write_jsonl  # noqa: E402

REQUIRED = ("topic", "genre")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", default=str(HERE / "raw"))
    ap.add_argument("--splits", default=str(HERE / "splits.yaml"))
    ap.add_argument("--adjudication", default=str(HERE / "annotation" / "adjudication.jsonl"))
    ap.add_argument("--excluded", default=str(HERE / "annotation" / "excluded.jsonl"))
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)

    records: list[StanceRecord] = []
    for part in sorted(Path(args.raw).glob("part-*.jsonl")):
        records.extend(load_jsonl(part))
    for r in records:
        missing = [k for k in REQUIRED if not getattr(r, k)] + ([] if r.notes else ["notes"])
        missing += [t for t in ("foreign_military_presence", "recognition") if t not in r.stances]
        if missing or r.sentiment is None:
            raise SystemExit(f"record {r.id}: missing {missing or ['sentiment']}")
    print(f"read {len(records)} records")

    excluded_file = Path(args.excluded)
    if excluded_file.is_file():
        excluded = {json.loads(line)["id"] for line in excluded_file.read_text().splitlines() if line}
        unknown = excluded - {r.id for r in records}
        if unknown:
            raise SystemExit(f"{excluded_file}: unknown ids {sorted(unknown)[:5]}")
        records = [r for r in records if r.id not in excluded]
        print(f"excluded {len(excluded)} records (reasons in {excluded_file.name})")

    adjudicated = Path(args.adjudication)
    if adjudicated.is_file():
        fixes = {json.loads(line)["id"]: json.loads(line) for line in adjudicated.read_text().splitlines() if line}
        for i, r in enumerate(records):
            if r.id in fixes:
                fix = fixes[r.id]
                records[i] = StanceRecord(id=r.id, text=fix.get("text", r.text),
                                          stances={**r.stances, **fix.get("stances", {})},
                                          sentiment=fix.get("sentiment", r.sentiment),
                                          notes=tuple(fix.get("notes", r.notes)),
                                          topic=r.topic, genre=r.genre)
        print(f"applied {len(fixes)} adjudicated corrections")

    drop = {j for _, j, _ in near_duplicates([r.text for r in records])}
    exact = Counter(" ".join(r.text.lower().split()) for r in records)
    records = [r for k, r in enumerate(records) if k not in drop]
    print(f"dropped {len(drop)} near-duplicates (word 5-gram Jaccard > 0.6); {sum(c > 1 for c in exact.values())} "
          "exact-text groups among them")

    plan = yaml.safe_load(Path(args.splits).read_text())
    topic_split = {t: split for split, topics in plan.items() for t in topics}
    unassigned = sorted({r.topic for r in records} - set(topic_split))
    if unassigned:
        raise SystemExit(f"topics with no split in {args.splits}: {unassigned}")
    for split in ("train", "dev", "test"):
        chosen = [r for r in records if topic_split[r.topic] == split]
        write_jsonl(chosen, Path(args.out) / f"{split}.jsonl")
        shares = label_shares(chosen)
        print(f"{split}: {len(chosen)} records, {len({r.topic for r in chosen})} topics; " +
              "; ".join(f"{k} " + "/".join(f"{v:.0%}" for v in s.values()) for k, s in shares.items()))
        for v in share_violations(chosen):
            print(f"  WARNING {split}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
