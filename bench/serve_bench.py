"""Load benchmark of `standpoint serve` against the transformers.pipeline baseline, on loopback only.

    python bench/serve_bench.py --model artifacts/default           # 1, 8, 32 clients, 20 s each
    python bench/serve_bench.py --model /tmp/tiny --seconds 3       # a quick run

Each system (Standpoint's LitServe server, then serve/baseline.py) is launched on 127.0.0.1 and a
free port, timed from launch to a ready /health, warmed up, and loaded for ``--seconds`` at each
client count: every client sends POST /predict, waits for the answer, sends the next, cycling
through a fixed mix of statement lengths. Reported: throughput (statements/s), p50/p95/p99
latency, errors (any non-200 answer or failed connection), RSS per worker and launch time.
Writes bench/results/serve.json and prints a table. Only one system runs at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # the benchmark never targets any other address
MAX_REQUESTS_PER_LEVEL = 200_000
LAUNCH_TIMEOUT_S = 300

CLAUSES = [
    "foreign troops must leave the country", "the new base will bring jobs to the region",
    "we should recognise the government in exile", "the embassy reopened after ten years",
    "nobody asked the people who live near the airfield", "the alliance promised to withdraw its advisers",
    "recognition would reward the junta", "our navy needs the port more than ever",
    "the contractors left quietly at night", "the parliament voted to expel the mission",
]


def statement(words: int, seed: int) -> str:
    """A deterministic statement of about ``words`` words built from the domain clauses."""
    out, k = [], seed
    while sum(len(c.split()) for c in out) < words:
        out.append(CLAUSES[k % len(CLAUSES)])
        k += 3
    text = ", and ".join(out)
    return text[0].upper() + text[1:] + "."


# The fixed mix: mostly short statements, some medium and long, one past a 160-token window.
MIX_WORDS = [8, 25, 8, 60, 12, 25, 200, 8]
STATEMENTS = [statement(w, i) for i, w in enumerate(MIX_WORDS)]


@dataclass
class LevelResult:
    system: str
    clients: int
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    requests: int
    statements: int
    seconds: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def run_level(url: str, system: str, clients: int, seconds: float, texts_per_request: int) -> LevelResult:
    latencies: list[float] = []
    errors = statements = requests = 0
    deadline = time.perf_counter() + seconds

    async def client(cid: int, http: httpx.AsyncClient):
        nonlocal errors, statements, requests
        i = cid
        while time.perf_counter() < deadline and requests < MAX_REQUESTS_PER_LEVEL:
            texts = [STATEMENTS[(i + j) % len(STATEMENTS)] for j in range(texts_per_request)]
            i += clients
            requests += 1
            started = time.perf_counter()
            try:
                reply = await http.post(url + "/predict", json={"texts": texts})
                ok = reply.status_code == 200 and len(reply.json()["results"]) == len(texts)
            except (httpx.HTTPError, ValueError, KeyError):
                ok = False
            latencies.append(time.perf_counter() - started)
            if ok:
                statements += len(texts)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120.0) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(c, http) for c in range(clients)))
        elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return LevelResult(system, clients, round(statements / elapsed, 2), round(percentile(ms, 50), 1),
                       round(percentile(ms, 95), 1), round(percentile(ms, 99), 1), errors, requests, statements,
                       round(elapsed, 2))


class Launched:
    """A server process started by the benchmark, stopped (with its children) on exit."""

    def __init__(self, command: list[str], port: int, log_path: Path, extra_env: dict[str, str]):
        env = {k: v for k, v in os.environ.items() if not k.startswith("STANDPOINT_")}  # only the flags given
        # the same thread settings for both systems (the server sets OMP_WAIT_POLICY=PASSIVE for its workers)
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                   OMP_WAIT_POLICY="PASSIVE", **extra_env)
        self.port, self.url, self.log_path = port, f"http://{HOST}:{port}", log_path
        self.log = open(log_path, "w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> float:
        while time.monotonic() - self.started < LAUNCH_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; log:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return round(time.monotonic() - self.started, 2)
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {LAUNCH_TIMEOUT_S} s; log:\n{self.log_text()[-3000:]}")

    def rss_mb(self, worker_marker: str | None) -> dict:
        """RSS of each worker process (those whose command line holds ``worker_marker``; else the server itself)."""
        root = psutil.Process(self.proc.pid)
        tree = [root, *root.children(recursive=True)]
        rss, pss = {}, 0.0
        for p in tree:
            try:
                rss[p.pid] = (p.memory_info().rss / 2**20, " ".join(p.cmdline()))
                # proportional set size: pages shared between forked processes counted once in all
                pss += getattr(p.memory_full_info(), "pss", 0) / 2**20
            except psutil.Error:
                continue
        workers = [mb for mb, cmd in rss.values() if worker_marker and worker_marker in cmd] or [rss[root.pid][0]]
        return {"rss_per_worker_mb": round(statistics.mean(workers), 1), "workers": len(workers),
                "pss_tree_mb": round(pss, 1), "processes": len(rss)}

    def stop(self) -> int:
        """SIGTERM, then SIGKILL for whatever of the server's own session is left; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything of this server's own session still left
        except ProcessLookupError:
            pass
        self.log.close()
        return self.proc.wait()


def bench_system(system: str, model: str, levels: list[int], seconds: float, texts_per_request: int,
                 threads: int, logs: Path) -> tuple[list[LevelResult], dict]:
    port = free_port()
    env = {}
    if system == "standpoint":
        command = [sys.executable, "-m", "standpoint.cli", "serve", "--model", model, "--host", HOST,
                   "--port", str(port), "--log-level", "warning"]
        env["STANDPOINT_THREADS_PER_WORKER"] = str(threads)
        marker = "multiprocessing.spawn"
    else:
        command = [sys.executable, "-m", "serve.baseline", "--model", model, "--port", str(port),
                   "--threads", str(threads)]
        marker = None
    server = Launched(command, port, logs / f"{system}.log", env)
    try:
        launch_s = server.wait_ready()
        asyncio.run(run_level(server.url, system, 4, min(2.0, seconds), texts_per_request))  # warm-up
        results = []
        for clients in levels:
            result = asyncio.run(run_level(server.url, system, clients, seconds, texts_per_request))
            print(f"  {system:<10} {clients:>3} clients: {result.throughput:8.1f} statements/s, "
                  f"p95 {result.p95_ms:.0f} ms, errors {result.errors}", flush=True)
            results.append(result)
        info = {"launch_to_ready_s": launch_s, **server.rss_mb(marker)}
    finally:
        server.stop()
    return results, info


def print_table(runs: list[LevelResult], systems: dict, ratio: float | None):
    print(f"\n{'system':<11}{'clients':>8}{'stmts/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in runs:
        print(f"{r.system:<11}{r.clients:>8}{r.throughput:>10.1f}{r.p50_ms:>9.1f}{r.p95_ms:>9.1f}"
              f"{r.p99_ms:>9.1f}{r.errors:>8}")
    for name, info in systems.items():
        print(f"{name}: ready {info['launch_to_ready_s']} s after launch, RSS per worker "
              f"{info['rss_per_worker_mb']} MB ({info['workers']} worker(s); all {info['processes']} processes: "
              f"{info['pss_tree_mb']} MB PSS)")
    if ratio is not None:
        print(f"throughput ratio at 32 clients (standpoint / baseline): {ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="artifacts/default", help="model folder (default artifacts/default)")
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per client count (default 20)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--systems", nargs="+", default=["standpoint", "baseline"],
                        choices=["standpoint", "baseline"])
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads per inference process, for both systems (default 0: the cores)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "serve.json"))
    args = parser.parse_args(argv)
    if not (Path(args.model) / "standpoint.json").is_file() and not (REPO / args.model / "standpoint.json").is_file():
        print(f"serve_bench: error: {args.model}: not a model folder (train one with `make train-default`)",
              file=sys.stderr)
        return 2
    if not 0 < args.seconds <= 600 or not all(0 < c <= 256 for c in args.clients):
        print("serve_bench: error: --seconds must be in (0, 600] and --clients in 1..256", file=sys.stderr)
        return 2

    # SIGTERM (a `timeout`, a CI cancel) unwinds like Ctrl-C, so each launched server is stopped in
    # bench_system's `finally` instead of outliving the benchmark in its own session
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load_before = os.getloadavg()
    runs, systems = [], {}
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as logs:
        for system in args.systems:
            print(f"{system}: launching on {HOST}", flush=True)
            results, info = bench_system(system, args.model, args.clients, args.seconds, args.texts_per_request,
                                         args.threads, Path(logs))
            runs.extend(results)
            systems[system] = info

    def at(system, clients):
        return next((r for r in runs if r.system == system and r.clients == clients), None)

    ours, theirs = at("standpoint", 32), at("baseline", 32)
    ratio = round(ours.throughput / theirs.throughput, 2) if ours and theirs and theirs.throughput else None
    p95_at_8 = at("standpoint", 8)
    report = {
        "runs": [asdict(r) for r in runs],
        "ratio_at_32": ratio,
        "systems": systems,
        "targets": {"ratio_at_32_at_least_3": ratio is not None and ratio >= 3,
                    "zero_errors_at_32": ours is not None and ours.errors == 0,
                    "p95_at_8_under_300_ms": p95_at_8 is not None and p95_at_8.p95_ms < 300},
        "setup": {"model": args.model, "seconds_per_level": args.seconds, "texts_per_request": args.texts_per_request,
                  "threads": args.threads or os.cpu_count(), "omp_wait_policy": "PASSIVE",
                  "statement_words": MIX_WORDS, "host": HOST, "cpu_count": os.cpu_count(),
                  "load_average_before": [round(x, 2) for x in load_before], "python": platform.python_version(),
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_table(runs, systems, ratio)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
