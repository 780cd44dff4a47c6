"""The ``standpoint`` command: train, eval, predict (and serve)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _cmd_train(args) -> int:
    from training.config import TrainConfig
    from training.train import train

    config = TrainConfig.from_yaml(args.config)
    output = args.output or f"artifacts/{Path(args.config).stem}"
    path = train(config, output)
    print(f"saved model to {path}")
    return 0


def _cmd_eval(args) -> int:
    from eval.evaluate import evaluate

    metrics = evaluate(args.model, args.data, args.out, targets_file=args.targets, batch_size=args.batch_size)
    for name, d in metrics["datasets"].items():
        per = ", ".join(f"{t} {s['macro_f1']:.3f}" for t, s in d["stance"].items())
        senti = f"; sentiment macro-F1 {d['sentiment']['macro_f1']:.3f}" if d["sentiment"].get("n") else ""
        print(f"{name}: n={d['n']} pooled F_avg {d['pooled']['f_avg']:.4f}, macro-F1 {d['pooled']['macro_f1']:.4f}; "
              f"per target macro-F1: {per}{senti}")
    print(f"wrote {args.out}/metrics.json and {args.out}/report.md")
    return 0


def _read_statements(fh) -> list[str]:
    """Text lines, or JSONL objects with a 'text' field; blank lines are skipped."""
    texts = []
    for lineno, line in enumerate(fh, 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"input line {lineno}: bad JSON: {exc.msg}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or not obj["text"].strip():
                raise ValueError(f"input line {lineno}: field 'text': missing or empty")
            texts.append(obj["text"])
        else:
            texts.append(line)
    return texts


def _cmd_predict(args) -> int:
    from model.predictor import Predictor

    predictor = Predictor(args.model, targets_file=args.targets, batch_size=args.batch_size)
    source = open(args.input, encoding="utf-8") if args.input else sys.stdin
    with source:
        texts = _read_statements(source)
    preds = predictor.predict(texts, targets=args.target or None, progress=len(texts) > 256)
    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    with sink:
        for p in preds:
            sink.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="standpoint", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="fine-tune a model from a YAML config")
    p.add_argument("--config", required=True, help="configs/NAME.yaml")
    p.add_argument("--output", help="model folder to write (default artifacts/NAME)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="score a model on data sets; writes metrics.json and report.md")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--data", nargs="+", required=True,
                   help="JSONL paths in the contract format or named sets (semeval-a-test, semeval-b-test, "
                        "tweeteval-test, pstance-test, ruw-test, vast-test, ...)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--targets", help="extra targets YAML (default: configs/targets.yaml)")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="label statements: text lines or JSONL in, JSONL out")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--target", action="append", help="target id (repeatable; default: the model's targets)")
    p.add_argument("--targets", help="targets YAML adding targets by configuration (default: configs/targets.yaml)")
    p.add_argument("--input", help="input file (default stdin)")
    p.add_argument("--output", help="output file (default stdout)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from model.folder import ModelFolderError
    from model.encoders import EncoderNotFound
    from standpoint.adapters import DataUnavailable
    from standpoint.records import RecordError
    from standpoint.targets import TargetConfigError
    from training.config import ConfigError

    if getattr(args, "targets", None) is None and args.command in ("eval", "predict"):
        from standpoint.targets import DEFAULT_TARGETS_FILE
        args.targets = str(DEFAULT_TARGETS_FILE)
    try:
        return args.func(args)
    except (ModelFolderError, EncoderNotFound, DataUnavailable, RecordError, TargetConfigError, ConfigError,
            ValueError, FileNotFoundError) as exc:
        print(f"standpoint {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
