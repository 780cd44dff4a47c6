"""The HTTP server:  standpoint serve --model artifacts/default [--port 8000] [--workers N]

Two kinds of process, as LitServe runs them:

* HTTP processes (FastAPI) parse and validate each request in the pydantic models of
  ``serve.schemas`` (a bad one is answered 4xx there and never reaches a batch), split documents
  into statements, check the API key and the body size, count metrics, and enforce the timeout.
* Inference workers each load one ``Predictor`` (the same inference path as the CLI) and run
  LitServe's dynamic batching: requests that arrive within ``batch_timeout_ms`` of each other,
  from /predict and /analyze alike, go through ONE ``Predictor.predict_each`` call.

Metrics are written by both kinds of process, so prometheus_client runs in multiprocess mode over
a folder made at start (``PROMETHEUS_MULTIPROC_DIR``); it is imported only after that is set.
"""

import asyncio
import gc
import hmac
import json
import logging
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass

import litserve as ls
import torch
from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from litserve.utils import LitAPIStatus, ResponseBufferItem
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.predictor import Predictor
from serve.schemas import (TOO_LARGE_ERRORS, ErrorResponse, JobFailure, PredictionResponse, RequestLimits,
                           StatementJob, bind_request_models)
from serve.segment import split_statements
from serve.settings import ServeSettings, SettingsError
from standpoint.targets import TargetConfigError

log = logging.getLogger("standpoint.serve")

PROTECTED_PATHS = frozenset({"/predict", "/analyze"})
METRIC_PATHS = ("/predict", "/analyze", "/health", "/info", "/metrics")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class ModelCard:
    """What the HTTP processes need to know about the served model (the workers hold the model itself)."""

    name: str
    version: str
    targets: dict[str, str]
    default_targets: list[str]
    info: dict

    @classmethod
    def from_predictor(cls, predictor) -> "ModelCard":
        meta = predictor.metadata
        info = {"name": predictor.name, "version": predictor.version, "base_encoder": meta.get("base_encoder"),
                "labels": {"stance": predictor.stance_labels, "sentiment": predictor.sentiment_labels},
                "targets": predictor.targets, "default_targets": predictor.default_targets,
                "max_length": meta.get("max_length"), "validation_metrics": meta.get("validation_metrics", {}),
                "created": meta.get("created")}
        return cls(predictor.name, predictor.version, dict(predictor.targets), list(predictor.default_targets), info)


# --------------------------------------------------------------------------------------- inference worker

class StandpointAPI(ls.LitAPI):
    """Runs in each inference worker: one Predictor, dynamic batches of ``StatementJob``s."""

    def __init__(self, settings: ServeSettings):
        super().__init__(max_batch_size=settings.max_batch_size, batch_timeout=settings.batch_timeout_ms / 1000,
                         api_path="/predict")
        self.settings = settings

    def setup(self, device):
        # Ctrl-C reaches the whole process group: the main process stops the workers, they do not stop alone.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        on_cpu = str(device).startswith("cpu")
        if on_cpu:
            threads = self.settings.threads_per_worker or max(1, (os.cpu_count() or 1) // self.settings.workers)
            torch.set_num_threads(threads)
        rows = self.settings.rows_per_forward or (16 if on_cpu else 128)
        self.predictor = Predictor(self.settings.model_path, targets_file=self.settings.targets_path,
                                   batch_size=rows, device=str(device), backend=self.settings.backend)
        self.predictor.predict(["Warm-up statement."])  # first-call costs are paid here, not by a client
        self.metrics = BatchMetrics()

    def decode_request(self, request: StatementJob) -> StatementJob:
        return request  # validated in the HTTP process; nothing here may fail a batch

    def predict(self, x):
        if self.max_batch_size == 1:  # LitServe passes a single job when batching is off
            return self.predict_jobs([x])[0]
        return self.predict_jobs(x)

    def predict_jobs(self, jobs: list[StatementJob]) -> list[tuple[StatementJob, list] | JobFailure]:
        """All statements of all jobs in one ``predict_each`` call, each with its own job's targets."""
        started = time.perf_counter()
        texts, target_sets, slices = [], [], []
        for job in jobs:
            try:  # a job that cannot be resolved fails alone
                chosen = self.predictor.resolve_targets(job.targets, job.adhoc)
            except TargetConfigError as exc:
                slices.append(JobFailure(422, str(exc)))
                continue
            slices.append(slice(len(texts), len(texts) + len(job.texts)))
            texts.extend(job.texts)
            target_sets.extend([chosen] * len(job.texts))
        predictions = self.predictor.predict_each(texts, target_sets)
        self.metrics.observe(len(jobs), len(texts), time.perf_counter() - started)
        return [s if isinstance(s, JobFailure) else (job, predictions[s]) for job, s in zip(jobs, slices)]

    def encode_response(self, output) -> PredictionResponse | JobFailure:
        if isinstance(output, JobFailure):
            return output
        job, predictions = output
        return PredictionResponse.from_predictions(self.predictor.name, self.predictor.version, job, predictions)


# --------------------------------------------------------------------------------------- metrics

class BatchMetrics:
    """Recorded by inference workers."""

    def __init__(self, registry=None):
        from prometheus_client import REGISTRY, Histogram

        registry = registry or REGISTRY
        self.requests = Histogram("standpoint_batch_requests", "requests merged into one dynamic batch",
                                  buckets=BATCH_BUCKETS, registry=registry)
        self.statements = Histogram("standpoint_batch_statements", "statements in one dynamic batch",
                                    buckets=BATCH_BUCKETS, registry=registry)
        self.seconds = Histogram("standpoint_batch_seconds", "inference time of one dynamic batch",
                                 buckets=LATENCY_BUCKETS, registry=registry)

    def observe(self, requests: int, statements: int, seconds: float):
        self.requests.observe(requests)
        self.statements.observe(statements)
        self.seconds.observe(seconds)


class HttpMetrics:
    """Recorded by HTTP processes; ``render`` gathers every process's metrics for GET /metrics."""

    def __init__(self):
        from prometheus_client import Counter, Histogram

        self.requests = Counter("standpoint_http_requests", "HTTP requests by endpoint and status code",
                                ["endpoint", "code"])
        self.errors = Counter("standpoint_http_errors", "HTTP requests answered 4xx or 5xx, by endpoint and code",
                              ["endpoint", "code"])
        self.latency = Histogram("standpoint_http_request_seconds", "time to answer, by endpoint",
                                 ["endpoint"], buckets=LATENCY_BUCKETS)

    def observe(self, path: str, code: int, seconds: float):
        endpoint = path if path in METRIC_PATHS else "other"
        self.requests.labels(endpoint, str(code)).inc()
        if code >= 400:
            self.errors.labels(endpoint, str(code)).inc()
        self.latency.labels(endpoint).observe(seconds)

    @staticmethod
    def render() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# --------------------------------------------------------------------------------------- HTTP side

def error_response(status: int, message: str, fields: list[dict] | None = None, headers=None) -> JSONResponse:
    body = {"error": {"status": status, "message": message, "fields": fields or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field_path(loc) -> str:
    parts = [p for p in loc if p != "body"]
    if not parts or (parts and isinstance(parts[0], int)):  # malformed JSON puts a character position here
        return "body"
    out = str(parts[0])
    for p in parts[1:]:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _field_message(err: dict, known_fields: list[str]) -> str:
    kind = err.get("type")
    if kind == "json_invalid":
        position = next((p for p in err["loc"] if isinstance(p, int)), None)
        return f"not valid JSON ({err.get('ctx', {}).get('error', 'decode error')} at character {position})"
    if kind == "extra_forbidden":
        return f"unknown field; known fields: {', '.join(known_fields)}"
    if kind == "missing" and err["loc"] == ("body",):
        return "a JSON object is required"
    if kind in ("model_attributes_type", "dict_type") and tuple(err["loc"]) == ("body",):
        return "expected a JSON object (send it with Content-Type: application/json)"
    return err["msg"]


def validation_error_response(exc: RequestValidationError, known_fields: list[str]) -> JSONResponse:
    """422 naming each bad field; 413 when the request is over a size limit."""
    fields = [{"field": _field_path(e["loc"]), "message": _field_message(e, known_fields)} for e in exc.errors()]
    status = 413 if any(e.get("type") in TOO_LARGE_ERRORS for e in exc.errors()) else 422
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return error_response(status, message, fields)


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``, before it is parsed (chunked bodies are counted as they arrive)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        too_large = error_response(413, f"body: larger than the limit of {self.max_bytes} bytes (max_payload_bytes)",
                                   [{"field": "body", "message": f"larger than {self.max_bytes} bytes"}])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                return await too_large(scope, receive, send)
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:  # no length given: read it here, within the limit, and hand it on
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await too_large(scope, receive, send)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:  # later calls wait for the disconnect, as the server's own receive does
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class ApiKeyMiddleware:
    """/predict and /analyze need ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``; probes stay open."""

    def __init__(self, app, api_key: str):
        self.app, self.api_key = app, api_key.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].rstrip("/") not in PROTECTED_PATHS:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        given = headers.get(b"x-api-key")
        bearer = headers.get(b"authorization", b"")
        if given is None and bearer[:7].lower() == b"bearer ":
            given = bearer[7:].strip()
        if given is not None and hmac.compare_digest(given, self.api_key):
            return await self.app(scope, receive, send)
        message = ("missing API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'" if given is None
                   else "wrong API key")
        response = error_response(401, message, [{"field": "X-API-Key", "message": message}],
                                  headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class MetricsMiddleware:
    def __init__(self, app, metrics: HttpMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, code = time.perf_counter(), 500

        async def send_and_note(message):
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.observe(scope["path"], code, time.perf_counter() - started)


ERROR_RESPONSES = {code: {"model": ErrorResponse, "description": text} for code, text in (
    (401, "missing or wrong API key (only when STANDPOINT_API_KEY is set)"),
    (413, "too many texts, a document or body over its limit"),
    (422, "a field is missing, empty, of the wrong type, or names an unknown target"),
    (504, "not answered within request_timeout_s; the server goes on serving"))}


class StandpointServer(ls.LitServer):
    """LitServer whose routes are Standpoint's: /predict and /analyze feed the same workers and batches."""

    def __init__(self, settings: ServeSettings, card: ModelCard, metrics: HttpMetrics):
        self.settings, self.card, self.http_metrics = settings, card, metrics
        limits = RequestLimits(known_targets=tuple(card.targets), max_texts=settings.max_texts,
                               max_document_chars=settings.max_document_chars,
                               max_adhoc_targets=settings.max_adhoc_targets)
        self.predict_model, self.analyze_model = bind_request_models(limits)
        middlewares = [(BodyLimitMiddleware, {"max_bytes": settings.max_payload_bytes})]
        if settings.api_key:
            middlewares.append((ApiKeyMiddleware, {"api_key": settings.api_key}))
        middlewares.append((MetricsMiddleware, {"metrics": metrics}))
        super().__init__(StandpointAPI(settings), accelerator=settings.accelerator,
                         workers_per_device=settings.workers, timeout=settings.request_timeout_s,
                         model_metadata=card.info, middlewares=middlewares)
        self.app.title = "Standpoint"
        self.app.version = card.version
        self.app.description = ("Stance (per target) and sentiment of statements. Errors are "
                                '`{"error": {"status", "message", "fields": [{"field", "message"}]}}`.')
        self.app.add_exception_handler(RequestValidationError, self._validation_error)
        self.app.add_exception_handler(StarletteHTTPException, self._http_error)
        self.app.add_exception_handler(Exception, self._unexpected_error)

    # LitServe calls this to add the API's POST route; Standpoint adds its own two instead.
    def _register_api_endpoints(self, lit_api, request_type, response_type):
        predict_model, analyze_model = self.predict_model, self.analyze_model

        async def predict(request: Request, body: predict_model) -> PredictionResponse:
            """Label statements: a sentiment each, and a stance per target."""
            return await self.answer(request, body.to_job())

        async def analyze(request: Request, body: analyze_model) -> PredictionResponse:
            """Split a document into statements (with character offsets) and label each."""
            statements = await run_in_threadpool(split_statements, body.document)
            if len(statements) > self.settings.max_statements:
                problem = (f"splits into {len(statements)} statements, more than the limit of "
                           f"{self.settings.max_statements}; send it in parts")
                return error_response(413, f"document: {problem}", [{"field": "document", "message": problem}])
            return await self.answer(request, body.to_job(statements))

        for path, endpoint in (("/predict", predict), ("/analyze", analyze)):
            self.app.add_api_route(path, endpoint, methods=["POST"], response_model=PredictionResponse,
                                   responses=ERROR_RESPONSES, summary=endpoint.__doc__.split(":")[0])

    def _register_internal_endpoints(self):
        super()._register_internal_endpoints()
        self.app.router.routes = [r for r in self.app.router.routes if getattr(r, "path", None) != self.info_path]

        @self.app.get(self.info_path, summary="The served model: labels, targets, base encoder, validation metrics")
        async def info() -> dict:
            s = self.settings
            return {"model": self.card.info,
                    "server": {"devices": self.devices, "workers_per_device": s.workers,
                               "max_batch_size": s.max_batch_size, "batch_timeout_ms": s.batch_timeout_ms,
                               "request_timeout_s": s.request_timeout_s, "auth": bool(s.api_key),
                               "limits": {k: getattr(s, k) for k in ("max_texts", "max_document_chars",
                                                                     "max_statements", "max_adhoc_targets",
                                                                     "max_payload_bytes")}}}

        @self.app.get("/metrics", summary="Prometheus metrics", response_class=Response)
        async def metrics():
            return self.http_metrics.render()

    async def answer(self, request: Request, job: StatementJob) -> PredictionResponse:
        """Queue ``job`` for the workers and wait for its answer, at most ``request_timeout_s``."""
        uid = uuid.uuid4().hex
        item = ResponseBufferItem(event=asyncio.Event())
        self.response_buffer[uid] = item
        try:
            queue = self._get_request_queue(self.lit_api.api_path)
            queue.put((request.app.response_queue_id, uid, time.monotonic(), job))
            await asyncio.wait_for(item.event.wait(), self.settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise self._timeout() from None
        finally:
            self.response_buffer.pop(uid, None)
        output, status = item.response
        if status == LitAPIStatus.ERROR:
            error = pickle.loads(output) if isinstance(output, bytes) else output
            if isinstance(error, HTTPException) and error.status_code == 504:  # waited in the queue too long
                raise self._timeout()
            log.error("inference failed for request %s: %r", uid, error)
            raise HTTPException(500, "inference failed; the server log has the cause")
        if isinstance(output, JobFailure):
            raise HTTPException(output.status, output.message)
        return output

    def _timeout(self) -> HTTPException:
        return HTTPException(504, f"not answered within request_timeout_s ({self.settings.request_timeout_s} s): "
                                  "the server is busy; retry, or send fewer texts per request")

    async def _validation_error(self, request: Request, exc: RequestValidationError) -> JSONResponse:
        model = {"/predict": self.predict_model, "/analyze": self.analyze_model}.get(request.url.path)
        return validation_error_response(exc, list(model.model_fields) if model else [])

    @staticmethod
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @staticmethod
    async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal error; the server log has the cause")


# --------------------------------------------------------------------------------------- running

def load_card(settings: ServeSettings) -> ModelCard:
    """Load the model once here, so a broken folder (or an unusable backend) is a one-line error before
    any worker starts; an ONNX backend's export is built and cached here once, not by each worker."""
    predictor = Predictor(settings.model_path, targets_file=settings.targets_path, batch_size=1,
                          backend=settings.backend)
    card = ModelCard.from_predictor(predictor)
    del predictor
    gc.collect()
    return card


def check_port_free(host: str, port: int):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SettingsError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None


def local_url(settings: ServeSettings) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(settings.host, settings.host)
    return f"http://{host}:{settings.port}"


def _announce_when_ready(settings: ServeSettings, card: ModelCard, started: float, stop: threading.Event):
    url = local_url(settings)
    while not stop.wait(0.2):
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            continue
    else:
        return
    shown = f"http://{'[::]' if settings.host == '::' else settings.host}:{settings.port}"
    print(f"Standpoint {card.name} {card.version} ready in {time.monotonic() - started:.1f} s at {shown} "
          f"(API docs: {shown}/docs)", flush=True)


def run_server(settings: ServeSettings) -> int:
    """Validate, start the workers and HTTP processes, block until Ctrl-C or SIGTERM."""
    started = time.monotonic()
    check_port_free(settings.host, settings.port)
    # Workers share the cores with the HTTP process and LitServe's queue manager: OpenMP threads that
    # spin while they wait starve them (measured: 3x slower at 1 client on a busy 2-core machine).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if own_metrics_dir:  # before anything imports prometheus_client
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="standpoint-metrics-")
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]

    main_pid = os.getpid()

    def stop_on_sigterm(signum, frame):
        if os.getpid() != main_pid:  # a forked HTTP process that inherited this handler: uvicorn is done
            sys.exit(0)
        raise KeyboardInterrupt  # LitServe shuts its workers down gracefully on this

    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    stop = threading.Event()
    server = None
    try:
        card = load_card(settings)
        server = StandpointServer(settings, card, HttpMetrics())
        threading.Thread(target=_announce_when_ready, args=(settings, card, started, stop), daemon=True).start()
        server.run(host=settings.host, port=settings.port, num_api_servers=settings.api_servers,
                   log_level=settings.log_level, generate_client_file=False,
                   access_log=settings.log_level == "debug")
    except RuntimeError as exc:  # LitServe: a worker failed to start (its log is above)
        raise SettingsError(f"{exc}; the worker log above has the cause") from None
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for worker in getattr(server, "inference_workers", None) or []:  # if stopped while still starting
            if worker.is_alive():
                worker.terminate()
        signal.signal(signal.SIGTERM, previous)
        if own_metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    return 0
