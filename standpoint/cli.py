"""The ``standpoint`` command: train, ablate, soft-labels, eval, compare, predict and serve."""

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


def _cmd_ablate(args) -> int:
    from training.ablate import ablate, format_table
    from training.config import TrainConfig

    result = ablate(TrainConfig.from_yaml(args.config), args.add, args.out, epochs=args.epochs, fresh=args.fresh)
    print(format_table(result))
    print(f"validation: {result['variants']['base']['validation']}; wrote {args.out}/ablation.json")
    return 0


def _cmd_soft_labels(args) -> int:
    from training.config import TrainConfig
    from training.soft_labels import generate

    config = TrainConfig.from_yaml(args.config)
    if not config.soft_labels:
        raise ValueError(f"{args.config} names no 'soft_labels' files to write")
    for path in generate(args.model, config, batch_size=args.batch_size, backend=args.backend,
                         reuse=not args.fresh):
        print(f"wrote {path}")
    return 0


def _cmd_eval(args) -> int:
    from eval.evaluate import evaluate

    if not args.data and not args.suite:
        raise ValueError("give --data SPEC [SPEC ...] and/or --suite all")
    metrics = evaluate(args.model, args.data or [], args.out, targets_file=args.targets, batch_size=args.batch_size,
                       suite=args.suite, baselines=not args.no_baselines, uncalibrated=args.uncalibrated,
                       backend=args.backend)
    for name, d in metrics["datasets"].items():
        per = (", ".join(f"{t} {s['macro_f1']:.3f}" for t, s in d["stance"].items()) if len(d["stance"]) <= 12
               else f"{len(d['stance'])} targets, see metrics.json")
        senti = f"; sentiment macro-F1 {d['sentiment']['macro_f1']:.3f}" if d["sentiment"].get("n") else ""
        print(f"{name}: n={d['n']} pooled F_avg {d['pooled']['f_avg']:.4f}, macro-F1 {d['pooled']['macro_f1']:.4f}; "
              f"per target macro-F1: {per}{senti}")
    for kind, r in metrics.get("suite", {}).items():
        print(f"suite {kind}: {r['n']} cases, pass rate {r['pass_rate']:.3f}")
    print(f"wrote {args.out}/metrics.json, report.md and report.html")
    return 0


def _cmd_compare(args) -> int:
    from eval.compare import compare

    result = compare(args.a, args.b, args.data, args.out, targets_file=args.targets)
    for name, d in result["datasets"].items():
        for key, r in d.items():
            print(f"{name} {key}: A {r['a']:.4f}  B {r['b']:.4f}  B-A {r['delta']:+.4f}  p={r['p_value']:.3f}")
    print(f"wrote {args.out}/compare.json and compare.md")
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

    predictor = Predictor(args.model, targets_file=args.targets, batch_size=args.batch_size, backend=args.backend)
    source = open(args.input, encoding="utf-8") if args.input else sys.stdin
    with source:
        texts = _read_statements(source)
    preds = predictor.predict(texts, targets=args.target or None, progress=len(texts) > 256)
    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    with sink:
        for p in preds:
            sink.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
    return 0


def _cmd_serve(args) -> int:
    from serve.server import run_server
    from serve.settings import DEFAULT_SETTINGS_FILE, ServeSettings

    flags = {"model": args.model, "host": args.host, "port": args.port, "workers": args.workers,
             "targets_file": args.targets, "log_level": args.log_level}
    return run_server(ServeSettings.load(args.config or DEFAULT_SETTINGS_FILE, overrides=flags))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="standpoint", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="fine-tune a model from a YAML config")
    p.add_argument("--config", required=True, help="configs/NAME.yaml")
    p.add_argument("--output", help="model folder to write (default artifacts/NAME)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("ablate", help="train a config, and the config plus each extra data set, and compare "
                                      "them on the same validation rows")
    p.add_argument("--config", required=True, help="base config (configs/NAME.yaml)")
    p.add_argument("--add", nargs="+", required=True, help="train SPECs to try adding, one variant each")
    p.add_argument("--out", required=True, help="folder for the variant models and ablation.json")
    p.add_argument("--epochs", type=float, help="override the config's epochs in every variant")
    p.add_argument("--fresh", action="store_true", help="retrain variants already trained with the same config")
    p.set_defaults(func=_cmd_ablate)

    p = sub.add_parser("soft-labels", help="run a teacher model over a config's training data and write the "
                                           "soft-label files its 'soft_labels' names (for distillation)")
    p.add_argument("--model", required=True, help="teacher model folder (e.g. artifacts/teacher)")
    p.add_argument("--config", required=True, help="student config whose soft_labels files to write")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--backend", default="torch-fp32", choices=["torch-fp32", "torch-int8", "onnx-fp32", "onnx-int8"],
                   help="teacher inference backend (default %(default)s: the teacher's exact fp32 outputs)")
    p.add_argument("--fresh", action="store_true",
                   help="recompute every entry (default: keep entries of an existing file by the same teacher "
                        "whose record is unchanged, run the teacher on new or edited records only)")
    p.set_defaults(func=_cmd_soft_labels)

    p = sub.add_parser("eval", help="score a model on data sets; writes metrics.json and report.md")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--data", nargs="+",
                   help="JSONL paths in the contract format or named sets (semeval-a-test, semeval-b-test, "
                        "tweeteval-test, pstance-test, ruw-test, vast-test, ...)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--targets", help="extra targets YAML (default: configs/targets.yaml)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--suite", help="run the behavioural suite: 'all' or a file stem of eval/suites/")
    p.add_argument("--no-baselines", action="store_true", help="skip the majority and TF-IDF baselines")
    p.add_argument("--backend", help="torch-fp32, torch-int8, onnx-fp32 or onnx-int8 (default: the model's)")
    p.add_argument("--uncalibrated", action="store_true",
                   help="ignore the fitted temperatures (temperature 1), to measure calibration before scaling")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("compare", help="two models (or two eval outputs) on the same data, paired bootstrap")
    p.add_argument("a", help="model folder, or an eval output's metrics.json (with its predictions/)")
    p.add_argument("b", help="model folder, or an eval output's metrics.json (with its predictions/)")
    p.add_argument("--data", nargs="+", required=True, help="data SPECs, as for eval")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--targets", help="extra targets YAML (default: configs/targets.yaml)")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("predict", help="label statements: text lines or JSONL in, JSONL out")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--target", action="append", help="target id (repeatable; default: the model's targets)")
    p.add_argument("--targets", help="targets YAML adding targets by configuration (default: configs/targets.yaml)")
    p.add_argument("--input", help="input file (default stdin)")
    p.add_argument("--output", help="output file (default stdout)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--backend", choices=["torch-fp32", "torch-int8", "onnx-fp32", "onnx-int8"],
                   help="inference backend (default: the model folder's, else the measured default; "
                        "see bench/README.md)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("serve", help="serve the model over HTTP (LitServe, dynamic batching); see serve/README.md",
                       description="Settings: configs/serve.yaml, then env STANDPOINT_<KEY>, then these flags. "
                                   "STANDPOINT_API_KEY, when set, is required on /predict and /analyze.")
    p.add_argument("--model", help="model folder (default: 'model' in the settings file)")
    p.add_argument("--host", help="127.0.0.1 (default), 0.0.0.0 or ::")
    p.add_argument("--port", type=int, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int, help="inference worker processes per device (default 1)")
    p.add_argument("--targets", help="extra targets YAML (default: configs/targets.yaml)")
    p.add_argument("--config", help="settings file (default configs/serve.yaml)")
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=_cmd_serve)
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
    from eval.suite import SuiteError
    from training.soft_labels import SoftLabelError

    if getattr(args, "targets", None) is None and args.command in ("eval", "predict", "compare"):
        from standpoint.targets import DEFAULT_TARGETS_FILE
        args.targets = str(DEFAULT_TARGETS_FILE)
    try:
        return args.func(args)
    except (ModelFolderError, EncoderNotFound, DataUnavailable, RecordError, TargetConfigError, ConfigError, SuiteError,
            SoftLabelError, ValueError, FileNotFoundError) as exc:
        print(f"standpoint {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
