"""The HTTP server for real: `standpoint serve` started as a process on 127.0.0.1 with the tiny model.

One server (API key set, small limits, batches that wait 50 ms to fill) serves most tests; a
second one with a 1 s timeout shows 504s and that the server keeps serving after them. All
traffic goes to 127.0.0.1, each load is bounded in count and time.
"""

import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.serve_bench import Launched, free_port
from standpoint.cli import main
from standpoint.targets import REPO_ROOT

pytestmark = pytest.mark.slow

API_KEY = "test-key-123"
AUTH = {"X-API-Key": API_KEY}
LIMITS = {"STANDPOINT_MAX_TEXTS": "8", "STANDPOINT_MAX_PAYLOAD_BYTES": "20000",
          "STANDPOINT_MAX_DOCUMENT_CHARS": "6000", "STANDPOINT_MAX_STATEMENTS": "40",
          "STANDPOINT_MAX_ADHOC_TARGETS": "3"}


def serve_process(model_dir: Path, log_path: Path, env: dict[str, str]) -> Launched:
    """`python -m standpoint.cli serve ...` in its own session (the benchmark's launcher), once it is ready."""
    port = free_port()
    command = [sys.executable, "-m", "standpoint.cli", "serve", "--model", str(model_dir), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]
    server = Launched(command, port, log_path, env)
    server.wait_ready()
    deadline = time.monotonic() + 10
    while "ready in" not in server.log_text() and time.monotonic() < deadline:  # printed once /health is up
        time.sleep(0.1)
    return server


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    env = {"STANDPOINT_API_KEY": API_KEY, "STANDPOINT_MAX_BATCH_SIZE": "8", "STANDPOINT_BATCH_TIMEOUT_MS": "50",
           **LIMITS}
    proc = serve_process(model_dir, tmp_path_factory.mktemp("serve") / "server.log", env)
    yield proc
    code = proc.stop()
    assert code == 0, f"server exited {code} on SIGTERM:\n{proc.log_text()[-3000:]}"
    assert "Traceback" not in proc.log_text(), proc.log_text()[-3000:]


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def post(http, path, body, headers=AUTH):
    return http.post(path, json=body, headers=headers)


def error_of(reply, status):
    assert reply.status_code == status, reply.text
    err = reply.json()["error"]
    assert err["status"] == status and err["message"]
    return err


# ----------------------------------------------------------------------------------- probes and docs

def test_ready_line_health_info_docs_need_no_key(server, http, model_dir):
    assert f"at http://127.0.0.1:{server.port}" in server.log_text()
    assert http.get("/health").status_code == 200
    info = http.get("/info").json()
    model = info["model"]
    meta = json.loads((model_dir / "standpoint.json").read_text())
    assert model["name"] == meta["name"] and model["version"] == meta["version"]
    assert model["labels"] == {"stance": ["favor", "against", "none"], "sentiment": ["positive", "negative", "neutral"]}
    assert model["base_encoder"] == meta["base_encoder"] and model["validation_metrics"] == meta["validation_metrics"]
    assert {"foreign_military_presence", "recognition", "atheism"} <= set(model["targets"])
    assert model["default_targets"] == ["foreign_military_presence", "recognition"]
    assert info["server"]["limits"]["max_texts"] == 8 and info["server"]["auth"] is True
    spec = http.get("/openapi.json").json()
    assert {"/predict", "/analyze", "/health", "/info", "/metrics"} <= set(spec["paths"])
    schemas = set(spec["components"]["schemas"])
    assert {"PredictRequest", "AnalyzeRequest", "PredictionResponse", "ErrorResponse"} <= schemas
    predict_op = spec["paths"]["/predict"]["post"]
    assert predict_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictRequest")
    assert {"200", "401", "413", "422", "504"} <= set(predict_op["responses"])
    assert http.get("/docs").status_code == 200


def test_api_key(http):
    for path, body in (("/predict", {"text": "Troops out."}), ("/analyze", {"document": "Troops out."})):
        missing = error_of(post(http, path, body, headers={}), 401)
        assert "X-API-Key" in missing["message"]
        assert error_of(post(http, path, body, headers={"X-API-Key": "nope"}), 401)["message"] == "wrong API key"
        assert post(http, path, body, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200


# ----------------------------------------------------------------------------------- answers

def test_predict_is_the_predictors_answer(http, model_dir):
    from model.predictor import Predictor

    texts = ["Foreign troops must leave our country now.", "We welcome the new embassy in Pristina."]
    reply = post(http, "/predict", {"texts": texts})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    meta = json.loads((model_dir / "standpoint.json").read_text())
    assert body["model"] == {"name": meta["name"], "version": meta["version"]}
    expected = Predictor(model_dir, targets_file=REPO_ROOT / "configs" / "targets.yaml").predict(texts)
    assert [r["text"] for r in body["results"]] == texts
    for got, want in zip(body["results"], expected):
        assert got["start"] is None and got["end"] is None and got["truncated"] is False
        assert got["sentiment"]["label"] == want.sentiment.label
        assert set(got["stances"]) == {"foreign_military_presence", "recognition"}
        for tid, stance in got["stances"].items():
            assert stance["label"] == want.stances[tid].label and stance["adhoc"] is False
            for label, p in stance["probability"].items():
                assert p == pytest.approx(want.stances[tid].probability[label], abs=1e-4)
    one = post(http, "/predict", {"text": texts[0]}).json()["results"]
    assert len(one) == 1 and one[0]["text"] == texts[0]


def test_targets_and_adhoc_targets(http):
    body = {"text": "NATO should take Sweden in.", "targets": ["recognition"],
            "adhoc_targets": [{"id": "nato_enlargement", "description": "NATO  admitting new members"}]}
    stances = post(http, "/predict", body).json()["results"][0]["stances"]
    assert set(stances) == {"recognition", "nato_enlargement"}
    assert stances["nato_enlargement"]["adhoc"] is True and stances["recognition"]["adhoc"] is False
    assert sum(stances["nato_enlargement"]["probability"].values()) == pytest.approx(1, abs=1e-4)


def test_long_text_is_truncated_not_refused(http):
    long_text = "The foreign bases must close and every soldier must go home. " * 40
    result = post(http, "/predict", {"texts": [long_text, "Short one."]}).json()["results"]
    assert [r["truncated"] for r in result] == [True, False]


def test_analyze_splits_with_offsets_and_keeps_quotes(http):
    document = ('The minister said: "The troops will leave. All of them, by June." The opposition disagreed.\n\n'
                "We should recognise Kosovo. " + "Very long sentence about the garrison " * 30 + ".")
    reply = post(http, "/analyze", {"document": document, "targets": ["foreign_military_presence"]})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["text"] for r in results[:3]] == [
        'The minister said: "The troops will leave. All of them, by June."', "The opposition disagreed.",
        "We should recognise Kosovo."]
    for r in results:
        assert document[r["start"]:r["end"]] == r["text"]
        assert set(r["stances"]) == {"foreign_military_presence"}
    assert results[-1]["truncated"] is True


# ----------------------------------------------------------------------------------- bad input

BAD_REQUESTS = [
    ("/predict", {"texts": []}, 422, "texts", "at least one text"),
    ("/predict", {"texts": ["fine", "   "]}, 422, "texts[1]", "empty or whitespace"),
    ("/predict", {"text": ""}, 422, "text", "empty or whitespace"),
    ("/predict", {"texts": ["fine", 42]}, 422, "texts[1]", "valid string"),
    ("/predict", {"text": "x", "targets": ["bases"]}, 422, "targets", "known: foreign_military_presence"),
    ("/predict", {"text": "x", "targets": []}, 422, "targets", "at least 1"),
    ("/predict", {"text": "x", "texts": ["y"]}, 422, "body", "not both"),
    ("/predict", {}, 422, "body", "one of them is required"),
    ("/predict", {"txt": "x"}, 422, "txt", "unknown field; known fields: targets, adhoc_targets, text, texts"),
    ("/predict", ["x"], 422, "body", "JSON object"),
    ("/predict", {"text": "x", "adhoc_targets": [{"id": "bad id", "description": "d"}]}, 422,
     "adhoc_targets[0]", "bad id"),
    ("/predict", {"text": "x", "adhoc_targets": [{"id": "recognition", "description": "d"}]}, 422,
     "adhoc_targets", "configured targets"),
    ("/predict", {"text": "x", "adhoc_targets": [{"id": f"t{i}", "description": "d"} for i in range(4)]}, 422,
     "adhoc_targets", "limit of 3"),
    ("/analyze", {"document": " \n "}, 422, "document", "empty or whitespace"),
    ("/analyze", {"document": 5}, 422, "document", "valid string"),
    ("/predict", {"texts": [f"text {i}" for i in range(9)]}, 413, "texts", "limit of 8"),
    ("/analyze", {"document": "Troops out. " * 600}, 413, "document", "limit of 6000"),
    ("/analyze", {"document": "Troops out. " * 45}, 413, "document", "limit of 40"),
]


@pytest.mark.parametrize("path,body,status,field,words", BAD_REQUESTS,
                         ids=[f"{p}-{s}-{f}-{i}" for i, (p, _, s, f, _) in enumerate(BAD_REQUESTS)])
def test_bad_request_names_the_field(http, path, body, status, field, words):
    err = error_of(post(http, path, body), status)
    assert err["message"].startswith(f"{field}:"), err
    assert words in err["message"], err


def test_malformed_json_and_wrong_content_type(http):
    bad_json = http.post("/predict", content=b'{"texts": ["a",', headers={**AUTH, "Content-Type": "application/json"})
    err = error_of(bad_json, 422)
    assert err["fields"][0]["field"] == "body" and "not valid JSON" in err["message"]
    form = http.post("/predict", content=b"text=hello", headers={**AUTH, "Content-Type": "text/plain"})
    assert "Content-Type: application/json" in error_of(form, 422)["message"]


def test_body_over_the_payload_limit(http):
    body = json.dumps({"text": "troops " * 4000}).encode()
    err = error_of(http.post("/predict", content=body, headers={**AUTH, "Content-Type": "application/json"}), 413)
    assert err["message"].startswith("body:") and "20000 bytes" in err["message"]

    def chunks():  # no Content-Length: counted as it arrives
        for i in range(0, len(body), 4096):
            yield body[i:i + 4096]

    chunked = http.post("/predict", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert error_of(chunked, 413)["fields"][0]["field"] == "body"


# ----------------------------------------------------------------------------------- batching and metrics

def _metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            if line.split("{")[0].split(" ")[0] == name:
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_bad_requests_never_fail_good_ones_in_the_same_batch(http):
    good = [{"texts": [f"Foreign troops must leave, said speaker {i}.", "We recognise them."]} for i in range(12)]
    bad = [{"texts": ["ok", ""]}, {"text": "x", "targets": ["nope"]}, {"texts": [1, 2]},
           {"texts": ["t"] * 9}, {"document": "wrong endpoint"}, {"text": "x", "adhoc_targets": [{"id": "a b"}]}]
    jobs = [("good", b) for b in good] + [("bad", b) for b in bad]
    jobs = [jobs[i] for i in sorted(range(len(jobs)), key=lambda i: (i * 7) % len(jobs))]  # interleaved
    before = http.get("/metrics").text

    def send(job):
        kind, body = job
        return kind, body, post(http, "/predict", body)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(send, jobs))
    for kind, body, reply in answers:
        if kind == "good":
            assert reply.status_code == 200, reply.text
            assert [r["text"] for r in reply.json()["results"]] == body["texts"]
        else:
            assert reply.status_code in (413, 422), reply.text
    after = http.get("/metrics").text
    batches = _metric(after, "standpoint_batch_requests_count") - _metric(before, "standpoint_batch_requests_count")
    requests = _metric(after, "standpoint_batch_requests_sum") - _metric(before, "standpoint_batch_requests_sum")
    assert requests == len(good)  # the bad ones never reached a worker
    assert batches < len(good), "concurrent requests should share dynamic batches"


def test_metrics_count_requests_errors_latency_and_batches(http):
    before = http.get("/metrics").text
    post(http, "/predict", {"text": "Troops out."})
    post(http, "/predict", {"texts": []})
    post(http, "/analyze", {"document": "Troops out."}, headers={})
    after = http.get("/metrics").text

    def delta(name, **labels):
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    assert delta("standpoint_http_requests_total", endpoint="/predict", code="200") == 1
    assert delta("standpoint_http_requests_total", endpoint="/predict", code="422") == 1
    assert delta("standpoint_http_errors_total", endpoint="/predict", code="422") == 1
    assert delta("standpoint_http_errors_total", endpoint="/analyze", code="401") == 1
    assert delta("standpoint_http_request_seconds_count", endpoint="/predict") == 2
    assert delta("standpoint_batch_statements_sum") == 1
    assert re.search(r'standpoint_http_request_seconds_bucket\{endpoint="/predict",le="0.1"\}', after)
    assert "standpoint_batch_requests_bucket" in after and "standpoint_batch_seconds_bucket" in after


# ----------------------------------------------------------------------------------- timeouts

def test_timeout_gives_504_and_the_server_keeps_serving(model_dir, tmp_path):
    env = {"STANDPOINT_REQUEST_TIMEOUT_S": "1", "STANDPOINT_MAX_BATCH_SIZE": "1", "STANDPOINT_BATCH_TIMEOUT_MS": "0",
           "STANDPOINT_BACKEND": "torch-fp32"}  # eager torch: the quickest start, and slow enough to time out
    proc = serve_process(model_dir, tmp_path / "timeout.log", env)
    try:
        heavy = {"texts": ["The foreign garrison and its bases must leave the island for good. " * 6] * 64}
        with httpx.Client(base_url=proc.url, timeout=60) as http, \
                concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            replies = list(pool.map(lambda _: http.post("/predict", json=heavy), range(12)))
            codes = [r.status_code for r in replies]
            assert set(codes) <= {200, 504} and 504 in codes, (codes, [r.text for r in replies if r.status_code
                                                                       not in (200, 504)], proc.log_text()[-2000:])
            assert "request_timeout_s (1.0 s)" in error_of(replies[codes.index(504)], 504)["message"]
            assert http.get("/health").status_code == 200
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # once the backlog is gone, answers come again
                if http.post("/predict", json={"text": "Troops out."}).status_code == 200:
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"the server stopped answering after the timeouts:\n{proc.log_text()[-2000:]}")
            assert 'code="504"' in http.get("/metrics").text
    finally:
        code = proc.stop()
    assert code == 0, proc.log_text()[-3000:]


# ----------------------------------------------------------------------------------- the command

def test_serve_without_a_usable_model_is_a_one_line_error(tmp_path, capsys, model_dir):
    assert main(["serve", "--model", str(tmp_path / "missing"), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip()
    assert "model folder not found" in err and len(err.splitlines()) == 1 and "Traceback" not in err

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "standpoint.json").write_text((model_dir / "standpoint.json").read_text())
    assert main(["serve", "--model", str(broken), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing encoder/config.json" in err and len(err.splitlines()) == 1

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve", "--model", str(model_dir), "--port", str(busy.getsockname()[1])]) == 2
    assert "pick another --port" in capsys.readouterr().err
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_benchmark_stopped_midway_stops_its_server(model_dir, tmp_path):
    """SIGTERM to the load benchmark (a `timeout`, a cancelled job) also stops the server it launched."""
    import psutil

    bench = psutil.Popen([sys.executable, "bench/serve_bench.py", "--model", str(model_dir), "--systems",
                          "standpoint", "--clients", "1", "--seconds", "60", "--out", str(tmp_path / "serve.json")],
                         cwd=REPO_ROOT, stdout=open(tmp_path / "bench.log", "w"), stderr=subprocess.STDOUT)
    deadline, server = time.monotonic() + 120, None
    while time.monotonic() < deadline and server is None:  # wait until the server answers /health
        for child in bench.children():
            port = re.search(r"--port (\d+)", " ".join(child.cmdline()))
            try:
                if port and httpx.get(f"http://127.0.0.1:{port.group(1)}/health", timeout=2).status_code == 200:
                    server = child
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    assert server is not None, (tmp_path / "bench.log").read_text()[-2000:]
    bench.terminate()
    assert bench.wait(timeout=60) == 128 + 15
    gone, alive = psutil.wait_procs([server], timeout=40)
    for proc in alive:  # leave nothing behind, even when the check below fails
        os.killpg(proc.pid, 9)
    assert not alive, "the benchmark's server outlived it"
    assert not (tmp_path / "serve.json").exists()  # an interrupted run writes no results
