"""Predictor backends side by side: throughput, latency, memory, roofline share and accuracy.

    python bench/predict_bench.py                    # full run: 2,000 statements, batch 1/8/32/128 (~12 min)
    python bench/predict_bench.py --quick            # 300 statements, batch 1 and 32, 300 eval records (~2 min)
    python bench/predict_bench.py --threads 2 --repeats 2 --model artifacts/default

Everything is measured in one run and interleaved, because these machines are shared: the
statement mix is cut into chunks, and for each chunk every backend, the transformers pipeline
baseline and a matmul microbenchmark run in turn (the order rotating), so a burst of load from
another job falls on all of them alike. With ``--repeats R`` each chunk is timed R times and
the fastest kept. The default is one thread: throughput per core is what a deployment pays for.

  workload   a fixed 2,000-statement mix of domain dev and SemEval-2016 A test texts (seeded
             shuffle), each with its labelled targets: one sentiment row plus one stance row
             per target, through ``Predictor.predict_each`` (tokenization included).
  latency    per batch: the backend's forward call, mean and p95 over the batches.
  rss_mb     peak RSS of a fresh process holding only that backend after running the longest
             statements at that batch size (and all smaller ones).
  roofline   attainable fp32 GFLOP/s of matmuls shaped like one encoder layer at a batch-32
             token count, through torch (MKL) and through ONNX Runtime (MLAS), the faster of
             the two each round, median over rounds: on AMD CPUs MKL takes its AVX2 path and
             reaches about half of what MLAS does, so torch alone would understate the machine.
             A backend's share is its statements/s x the model FLOPs per statement (from the
             config and the real token counts, padding not counted) / that figure; the share
             against torch's matmul alone is in predict_detail.json. int8 can pass 100%.
  baseline   ``transformers.pipeline("text-classification")`` over the same fine-tuned encoder
             as ``AutoModelForSequenceClassification`` (num_labels=3): one input per (target,
             text) pair plus one per text, at its default batch size and at batch_size=32.
  accuracy   per backend, SemEval-2016 A test F_avg with ``--semeval-model`` and domain dev
             stance macro-F1 with ``--model``: deltas to torch-fp32 in points, label agreement
             with torch-fp32, and the largest probability change between batch 1 and batch 64.

Writes bench/results/predict.json (the summary keys of issue 5) and predict_detail.json
(everything else), and prints a table. The chosen default is the fastest backend at batch 32
within 0.5 points of torch-fp32 on both sets whose answers do not depend on the batch.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from model.backends import BACKENDS, DEFAULT_BACKEND  # noqa: E402
from model.predictor import Predictor  # noqa: E402

log = logging.getLogger("bench.predict")
RESULTS = REPO / "bench" / "results"
DOMAIN_DEV = "data/domain/dev.jsonl"
SEMEVAL_TEST = "semeval-a-test"
MAX_DELTA_POINTS = 0.5
BATCH_INVARIANCE_TOL = 1e-4  # what tests/test_model.py holds the Predictor to
PIPELINE = "pipeline"
ROOFLINE_TOKENS = 32 * 40  # a batch of 32 rows of this workload's typical length


@dataclass
class Statement:
    text: str
    targets: dict[str, str]  # target id -> description


@dataclass
class Timing:
    """Fastest time per chunk (over repeats) and the forward latencies of that repeat."""
    seconds: dict[int, float] = field(default_factory=dict)
    batch_ms: dict[int, list[float]] = field(default_factory=dict)

    def add(self, chunk: int, seconds: float, batch_ms: list[float]):
        if chunk not in self.seconds or seconds < self.seconds[chunk]:
            self.seconds[chunk], self.batch_ms[chunk] = seconds, batch_ms

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def latencies(self) -> list[float]:
        return [ms for chunk in sorted(self.batch_ms) for ms in self.batch_ms[chunk]]


class TimedBackend:
    """Wraps a Predictor's backend to record each forward call."""

    def __init__(self, inner):
        self.inner, self.name, self.ms = inner, inner.name, []

    def logits(self, batch):
        start = time.perf_counter()
        out = self.inner.logits(batch)
        self.ms.append((time.perf_counter() - start) * 1000)
        return out


# ------------------------------------------------------------------------------------- workload

def statement_mix(n: int, seed: int = 0) -> list[Statement]:
    """``n`` statements drawn (seeded) from domain dev and SemEval-2016 A test, with their
    labelled targets; whichever set is unavailable is left out with a warning."""
    from standpoint.adapters import load_spec

    pool = []
    for spec in (DOMAIN_DEV, SEMEVAL_TEST):
        try:
            data = load_spec(str(REPO / spec) if spec.endswith(".jsonl") else spec)
        except (OSError, ValueError) as exc:
            log.warning("%s left out of the mix: %s", spec, exc)
            continue
        pool += [Statement(r.text, {t: data.targets[t] for t in r.stances}) for r in data.records]
    if not pool:
        raise SystemExit("no statements: neither domain dev nor SemEval-2016 A test could be read")
    random.Random(seed).shuffle(pool)
    if len(pool) < n:
        log.warning("only %d statements available, fewer than the %d asked for", len(pool), n)
    return pool[:n]


def row_lengths(predictor: Predictor, statements: list[Statement]) -> list[int]:
    """Token count of every row the Predictor builds for the statements (sentiment + stances)."""
    enc = predictor.encoder
    lengths = []
    for st, ids in zip(statements, enc.token_ids([s.text for s in statements])):
        lengths.append(len(enc.sentiment_row(ids).input_ids))
        lengths += [len(enc.stance_row(desc, ids).input_ids) for desc in st.targets.values()]
    return lengths


def encoder_flops(n: int, config) -> float:
    """FLOPs of one n-token row through the encoder: Q/K/V/output projections, attention scores
    and mixing, feed-forward (2 FLOPs per multiply-add; embeddings, norms and heads ignored)."""
    h, i = config.hidden_size, config.intermediate_size
    return config.num_hidden_layers * (8 * n * h * h + 4 * n * h * i + 4 * n * n * h)


def layer_matmuls(config, tokens: int) -> tuple[list[tuple[int, int]], int]:
    """(k, n) of each weight matmul of one encoder layer, and their FLOPs over ``tokens`` rows."""
    h, i = config.hidden_size, config.intermediate_size
    shapes = [(h, h)] * 4 + [(h, i), (i, h)]
    return shapes, sum(2 * tokens * k * n for k, n in shapes)


def best_seconds(run, reps: int) -> float:
    run()  # warm-up
    best = math.inf
    for _ in range(reps):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def torch_matmul_gflops(config, tokens: int = ROOFLINE_TOKENS, reps: int = 5) -> float:
    """Best-of-``reps`` fp32 GFLOP/s of torch matmuls shaped like one encoder layer."""
    shapes, flops = layer_matmuls(config, tokens)
    pairs = [(torch.randn(tokens, k), torch.randn(k, n)) for k, n in shapes]
    return flops / best_seconds(lambda: [x @ w for x, w in pairs], reps) / 1e9


def ort_matmul_gflops(config, tokens: int = ROOFLINE_TOKENS, reps: int = 5):
    """The same matmuls through ONNX Runtime's own GEMM (MLAS); a callable, built once."""
    try:
        import numpy as np
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    shapes, flops = layer_matmuls(config, tokens)
    rng = np.random.default_rng(0)
    nodes, inputs, outputs, weights, feeds = [], [], [], [], {}
    for j, (k, n) in enumerate(shapes):
        nodes.append(helper.make_node("MatMul", [f"x{j}", f"w{j}"], [f"y{j}"]))
        inputs.append(helper.make_tensor_value_info(f"x{j}", TensorProto.FLOAT, [tokens, k]))
        outputs.append(helper.make_tensor_value_info(f"y{j}", TensorProto.FLOAT, [tokens, n]))
        weights.append(numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), f"w{j}"))
        feeds[f"x{j}"] = rng.standard_normal((tokens, k), dtype=np.float32)
    graph = helper.make_graph(nodes, "layer_matmuls", inputs, outputs, weights)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
    session = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                                   .SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: flops / best_seconds(lambda: session.run(None, feeds), reps) / 1e9


# ------------------------------------------------------------------------------------- systems

def build_pipeline(model_dir: Path, max_length: int):
    """What a user would otherwise run: the fine-tuned encoder as a standard classifier."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the fresh classifier head's "newly initialized" notice
    model = AutoModelForSequenceClassification.from_pretrained(model_dir / "encoder", num_labels=3,
                                                               local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir / "tokenizer", local_files_only=True)
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
    return lambda inputs, batch_size: pipe(inputs, batch_size=batch_size, truncation=True, max_length=max_length)


def pipeline_inputs(statements: list[Statement]) -> list:
    """The same work per statement: its text (sentiment) and each (target, text) pair."""
    inputs = []
    for st in statements:
        inputs.append(st.text)
        inputs += [{"text": desc, "text_pair": st.text} for desc in st.targets.values()]
    return inputs


def run_backend(predictor: Predictor, statements: list[Statement], batch_size: int) -> tuple[float, list[float]]:
    timed = TimedBackend(predictor.backend)
    predictor.backend, predictor.batch_size = timed, batch_size
    try:
        start = time.perf_counter()
        predictor.predict_each([s.text for s in statements], [s.targets for s in statements])
        return time.perf_counter() - start, timed.ms
    finally:
        predictor.backend = timed.inner


def measure_throughput(args, predictors: dict[str, Predictor], pipe, statements, config) -> tuple[dict, list[float]]:
    """Interleaved timings: {(system, batch size): Timing} and the per-round matmul GFLOP/s of
    torch (MKL) and of ONNX Runtime (MLAS); the faster library is the machine's attainable figure
    (MKL takes its AVX2 path on AMD CPUs, MLAS its AVX-512 one)."""
    chunks = [statements[s:s + args.chunk] for s in range(0, len(statements), args.chunk)]
    systems = [(name, bs) for bs in args.batch_sizes for name in predictors]
    systems += [(PIPELINE, bs) for bs in args.pipeline_batch_sizes]
    timings = {key: Timing() for key in systems}
    roofline = {"torch": [], "onnxruntime": []}
    ort_gflops = ort_matmul_gflops(config)
    for name, predictor in predictors.items():  # first-call costs (allocations, kernel choice)
        for bs in args.batch_sizes:
            run_backend(predictor, statements[:max(2, bs // 2)], bs)
    pipe(pipeline_inputs(statements[:8]), None)
    rounds = [(rep, c) for rep in range(args.repeats) for c in range(len(chunks))]
    started = time.time()
    for k, (rep, c) in enumerate(rounds):
        roofline["torch"].append(torch_matmul_gflops(config))
        if ort_gflops:
            roofline["onnxruntime"].append(ort_gflops())
        for name, bs in systems[k % len(systems):] + systems[:k % len(systems)]:
            if name == PIPELINE:
                inputs = pipeline_inputs(chunks[c])
                start = time.perf_counter()
                pipe(inputs, None if bs == 0 else bs)
                timings[name, bs].add(c, time.perf_counter() - start, [])
            else:
                timings[name, bs].add(c, *run_backend(predictors[name], chunks[c], bs))
        log.info("round %d/%d done (%.0f s)", k + 1, len(rounds), time.time() - started)
    return timings, roofline


def rss_probe(args) -> dict:
    """Runs in a fresh process: peak RSS after each batch size, for one backend or the pipeline."""
    torch.set_num_threads(args.threads)
    statements = statement_mix(args.statements)
    start = time.perf_counter()
    if args.rss_probe == PIPELINE:
        from model.folder import read_metadata

        pipe = build_pipeline(Path(args.model), int(read_metadata(args.model)["max_length"]))
    else:
        predictor = Predictor(args.model, backend=args.rss_probe)
    load_s, load_rss = time.perf_counter() - start, peak_rss_mb()
    longest = sorted(statements, key=lambda s: -len(s.text))  # the largest activations
    out = {"load_s": round(load_s, 2), "load_rss_mb": load_rss, "rss_mb": {}}
    sizes = args.pipeline_batch_sizes if args.rss_probe == PIPELINE else args.batch_sizes
    for bs in sorted(sizes, key=lambda b: b or 1):
        if args.rss_probe == PIPELINE:
            pipe(pipeline_inputs(longest[:max(bs, 1) * 2]), bs or None)
        else:
            run_backend(predictor, longest[:bs * 2], bs)
        out["rss_mb"][str(bs)] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: a child forked from a big parent
    inherits the parent's ru_maxrss through exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure_rss(args, systems: list[str]) -> dict:
    out = {}
    for name in systems:
        cmd = [sys.executable, __file__, "--rss-probe", name, "--model", str(args.model), "--threads",
               str(args.threads), "--statements", str(args.statements),
               "--batch-sizes", *map(str, args.batch_sizes),
               "--pipeline-batch-sizes", *map(str, args.pipeline_batch_sizes)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            log.warning("RSS probe of %s failed: %s", name, done.stderr.strip().splitlines()[-1:])
            continue
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


# ------------------------------------------------------------------------------------- accuracy

def labels_of(preds) -> list[str]:
    out = []
    for p in preds:
        out += [s.label for _, s in sorted(p.stances.items())]
        out += [p.sentiment.label] if p.sentiment else []
    return out


def score_backends(model_dir: Path, spec: str, metric: str, limit: int | None) -> dict[str, dict]:
    """{backend: {"score": pooled metric x100, "labels": [...]}} on one labelled set."""
    from eval.evaluate import predict_set
    from eval.metrics import score_records
    from standpoint.adapters import load_spec

    data = load_spec(str(REPO / spec) if spec.endswith(".jsonl") else spec)
    if limit:
        data.records = data.records[:limit]
    out = {}
    for name in BACKENDS:
        predictor = Predictor(model_dir, backend=name, batch_size=32)
        preds = predict_set(predictor, data, progress=False)
        scores = score_records(data.records, [{t: s.label for t, s in p.stances.items()} for p in preds],
                               [p.sentiment.label if p.sentiment else None for p in preds])
        out[name] = {"score": 100 * scores["pooled"][metric], "labels": labels_of(preds)}
    return out


def batch_dependence(model_dir: Path, statements: list[Statement]) -> dict[str, float]:
    """Largest probability change, per backend, between batch size 1 and 64 on the same inputs."""
    texts, targets = [s.text for s in statements], [s.targets for s in statements]
    out = {}
    for name in BACKENDS:
        predictor = Predictor(model_dir, backend=name, batch_size=1)
        one = predictor.predict_each(texts, targets)
        predictor.batch_size = 64
        many = predictor.predict_each(texts, targets)
        out[name] = max(abs(a - b) for p, q in zip(one, many)
                        for x, y in zip([p.sentiment, *p.stances.values()], [q.sentiment, *q.stances.values()])
                        for a, b in zip(x.probability.values(), y.probability.values()))
    return out


def measure_accuracy(args, statements: list[Statement]) -> tuple[dict, dict]:
    """accuracy_delta per backend (points, vs torch-fp32) and the absolute scores."""
    sets = []
    if (Path(args.semeval_model) / "standpoint.json").is_file():
        sets.append(("semeval_a_f_avg", args.semeval_model, SEMEVAL_TEST, "f_avg"))
    else:
        log.warning("no SemEval model at %s: SemEval-2016 A accuracy skipped", args.semeval_model)
    if args.model_is_domain:
        sets.append(("domain_dev_macro_f1", args.model, DOMAIN_DEV, "macro_f1"))
    else:
        log.warning("--model is not the domain model: domain dev accuracy skipped")
    absolute, agree = {name: {} for name in BACKENDS}, {name: [0, 0] for name in BACKENDS}
    for key, model_dir, spec, metric in sets:
        try:
            scored = score_backends(Path(model_dir), spec, metric, args.eval_limit)
        except (OSError, ValueError) as exc:
            log.warning("%s skipped: %s", key, exc)
            continue
        for name, s in scored.items():
            absolute[name][key] = round(s["score"], 3)
            ref = scored["torch-fp32"]["labels"]
            agree[name][0] += sum(a == b for a, b in zip(s["labels"], ref))
            agree[name][1] += len(ref)
    dependence = batch_dependence(Path(args.model), statements[:args.invariance_statements])
    delta = {}
    for name in BACKENDS:
        delta[name] = {key: round(absolute[name][key] - absolute["torch-fp32"][key], 3) for key in absolute[name]}
        delta[name]["label_agreement"] = round(agree[name][0] / agree[name][1], 4) if agree[name][1] else None
        delta[name]["batch_max_prob_change"] = float(f"{dependence[name]:.2e}")
    return delta, absolute


def choose_default(runs: list[dict], delta: dict) -> tuple[str, dict]:
    """Fastest at batch 32 among backends within MAX_DELTA_POINTS on every scored set and whose
    probabilities do not change with the batch; the reasons for each rejection."""
    speed = {r["backend"]: r["throughput"] for r in runs if r["batch_size"] == 32}
    rejected = {}
    for name, d in delta.items():
        off = [k for k, v in d.items() if k.endswith(("f_avg", "macro_f1")) and abs(v) > MAX_DELTA_POINTS]
        if off:
            rejected[name] = f"more than {MAX_DELTA_POINTS} points from torch-fp32 on {', '.join(off)}"
        elif d["batch_max_prob_change"] > BATCH_INVARIANCE_TOL:
            rejected[name] = f"answers depend on the batch (probabilities move {d['batch_max_prob_change']:.1e})"
    ok = [name for name in speed if name not in rejected] or ["torch-fp32"]
    return max(ok, key=lambda n: speed.get(n, 0.0)), rejected


# ------------------------------------------------------------------------------------- reporting

def print_table(result: dict, detail: dict) -> None:
    libs = ", ".join(f"{lib} {g:.1f}" for lib, g in detail["roofline_median_gflops"].items())
    print(f"\nroofline (fp32 matmul, {detail['threads']} thread(s)): {result['roofline_gflops']:.1f} GFLOP/s ({libs}); "
          f"{detail['statements']} statements, {detail['rows']} rows, "
          f"{detail['gflop_per_statement']:.3f} GFLOP/statement")
    print(f"{'backend':12} {'batch':>5} {'stmt/s':>8} {'mean ms':>8} {'p95 ms':>8} {'RSS MB':>7} {'roofline':>8}")
    for r, d in zip(result["runs"], detail["runs"]):
        rss = f"{r['rss_mb']:.0f}" if r["rss_mb"] is not None else "-"
        print(f"{r['backend']:12} {r['batch_size']:>5} {r['throughput']:>8.1f} {d['mean_ms']:>8.1f} "
              f"{r['p95_ms']:>8.1f} {rss:>7} {100 * r['roofline_share']:>7.1f}%")
    for b in result["baseline"]:
        label = "default" if b["batch_size"] is None else b["batch_size"]
        print(f"{'pipeline':12} {label:>5} {b['throughput']:>8.1f}")
    print("\naccuracy (points vs torch-fp32), label agreement, batch 1 vs 64 probability change:")
    for name, d in result["accuracy_delta"].items():
        scores = ", ".join(f"{k} {v:+.2f}" for k, v in d.items() if k.endswith(("f_avg", "macro_f1")))
        print(f"  {name:12} {scores}; agreement {d['label_agreement']}; batch change {d['batch_max_prob_change']:.1e}")
    print(f"\ndefault backend: {result['default_backend']}  "
          f"({result['ratio_default_vs_pipeline_at_32']:.2f}x the pipeline at batch_size=32)")
    for name, why in detail["rejected"].items():
        print(f"  not {name}: {why}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model whose throughput is measured and whose domain dev "
                   "accuracy is scored (default artifacts/default, else artifacts/semeval)")
    p.add_argument("--semeval-model", default="artifacts/semeval", help="model scored on SemEval-2016 A test")
    p.add_argument("--statements", type=int, default=2000)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--pipeline-batch-sizes", type=int, nargs="+", default=[0, 32],
                   help="0 = the pipeline's default batch size")
    p.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads (default 1: per core)")
    p.add_argument("--chunk", type=int, default=250, help="statements per interleaved round")
    p.add_argument("--repeats", type=int, default=1, help="time each chunk this many times, keep the fastest")
    p.add_argument("--eval-limit", type=int, default=None, help="score only the first N records of each set")
    p.add_argument("--invariance-statements", type=int, default=48)
    p.add_argument("--no-accuracy", action="store_true", help="skip the accuracy deltas")
    p.add_argument("--quick", action="store_true",
                   help="300 statements, batch sizes 1 and 32, 300 eval records, chunks of 100")
    p.add_argument("--out", default=str(RESULTS / "predict.json"))
    p.add_argument("--rss-probe", help=argparse.SUPPRESS)
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # explicit flags still win
        p.set_defaults(statements=300, batch_sizes=[1, 32], eval_limit=300, chunk=100, invariance_statements=16)
    args = p.parse_args(argv)
    if args.model is None:
        args.model = "artifacts/default" if (REPO / "artifacts/default/standpoint.json").is_file() else "artifacts/semeval"
    args.model = str(REPO / args.model) if not Path(args.model).is_absolute() else args.model
    args.semeval_model = (str(REPO / args.semeval_model) if not Path(args.semeval_model).is_absolute()
                          else args.semeval_model)
    args.model_is_domain = Path(args.model).resolve() != Path(args.semeval_model).resolve()
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.rss_probe:
        logging.disable(logging.WARNING)
        print(json.dumps(rss_probe(args)))
        return 0
    torch.set_num_threads(args.threads)  # before the ONNX sessions, which follow it
    started = time.time()
    statements = statement_mix(args.statements)
    predictors = {name: Predictor(args.model, backend=name) for name in BACKENDS}
    reference = predictors["torch-fp32"]
    config = reference.model.encoder.config
    lengths = row_lengths(reference, statements)
    flops_per_statement = sum(encoder_flops(n, config) for n in lengths) / len(statements)
    pipe = build_pipeline(Path(args.model), int(reference.metadata["max_length"]))
    log.info("%d statements, %d rows, %.1f tokens/row; timing %s and the pipeline at %d thread(s)",
             len(statements), len(lengths), sum(lengths) / len(lengths), ", ".join(BACKENDS), args.threads)

    timings, roofline_rounds = measure_throughput(args, predictors, pipe, statements, config)
    del predictors, pipe
    per_round = [max(pair) for pair in zip(*[v for v in roofline_rounds.values() if v])]
    roofline = statistics.median(per_round)
    rss = measure_rss(args, [*BACKENDS, PIPELINE])
    if args.no_accuracy:
        delta, absolute = {n: {"label_agreement": None, "batch_max_prob_change": 0.0} for n in BACKENDS}, {}
    else:
        delta, absolute = measure_accuracy(args, statements)

    runs, detail_runs = [], []
    for bs in args.batch_sizes:
        for name in BACKENDS:
            t = timings[name, bs]
            lat = sorted(t.latencies)
            throughput = len(statements) / t.total
            runs.append({"backend": name, "batch_size": bs, "throughput": round(throughput, 2),
                         "p95_ms": round(lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)], 2),
                         "rss_mb": rss.get(name, {}).get("rss_mb", {}).get(str(bs)),
                         "roofline_share": round(throughput * flops_per_statement / (roofline * 1e9), 4)})
            detail_runs.append({"backend": name, "batch_size": bs, "mean_ms": round(statistics.fmean(lat), 2),
                                "p50_ms": round(statistics.median(lat), 2), "batches": len(lat),
                                "seconds": round(t.total, 2)})
    baseline = [{"batch_size": bs or None, "throughput": round(len(statements) / timings[PIPELINE, bs].total, 2)}
                for bs in args.pipeline_batch_sizes]
    default, rejected = choose_default(runs, delta)
    at32 = {r["backend"]: r["throughput"] for r in runs if r["batch_size"] == 32}
    pipe32 = next((b["throughput"] for b in baseline if b["batch_size"] == 32), None)
    result = {
        "roofline_gflops": round(roofline, 2),
        "runs": runs,
        "baseline": baseline,
        "default_backend": default,
        "ratio_default_vs_pipeline_at_32": round(at32[default] / pipe32, 3) if default in at32 and pipe32 else None,
        "accuracy_delta": delta,
    }
    detail = {
        "settings": {k: v for k, v in vars(args).items() if k != "rss_probe"},
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "threads": args.threads, "statements": len(statements), "rows": len(lengths),
        "tokens_per_row": round(sum(lengths) / len(lengths), 2),
        "gflop_per_statement": flops_per_statement / 1e9,
        "roofline_rounds_gflops": {lib: [round(g, 2) for g in v] for lib, v in roofline_rounds.items()},
        "roofline_median_gflops": {lib: round(statistics.median(v), 2) for lib, v in roofline_rounds.items() if v},
        "roofline_torch_share": {f"{r['backend']}@{r['batch_size']}": round(
            r["roofline_share"] * roofline / statistics.median(roofline_rounds["torch"]), 4) for r in runs},
        "runs": detail_runs, "rss_probes": rss, "accuracy_absolute": absolute, "rejected": rejected,
        "code_default_backend": DEFAULT_BACKEND, "seconds": round(time.time() - started, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.with_name(out.stem + "_detail.json").write_text(json.dumps(detail, indent=2) + "\n", encoding="utf-8")
    print_table(result, detail)
    if default != DEFAULT_BACKEND:
        print(f"note: model.backends.DEFAULT_BACKEND is {DEFAULT_BACKEND}, this run chose {default}")
    print(f"wrote {out} and {out.with_name(out.stem + '_detail.json')} in {detail['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
