"""Server settings: defaults < configs/serve.yaml < environment ``STANDPOINT_<KEY>`` < command-line flags.

    ServeSettings.load("configs/serve.yaml", env=os.environ, overrides={"port": 8080})

The API key is read from ``STANDPOINT_API_KEY`` only: a secret does not belong in a file under git.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


from standpoint.targets import REPO_ROOT, repo_path
from standpoint.yamlfile import read_settings

DEFAULT_SETTINGS_FILE = REPO_ROOT / "configs" / "serve.yaml"
ENV_PREFIX = "STANDPOINT_"
API_KEY_ENV = "STANDPOINT_API_KEY"
HOSTS = ("127.0.0.1", "0.0.0.0", "::")
ACCELERATORS = ("auto", "cpu", "cuda", "mps")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the key, where it came from and what would be right."""


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class ServeSettings:
    model: str = field(default="artifacts/default", metadata=_help("model folder to serve"))
    targets_file: str | None = field(default="configs/targets.yaml",
                                     metadata=_help("extra targets (id -> description) on top of the model's"))
    host: str = field(default="127.0.0.1", metadata=_help("interface to bind: 127.0.0.1, 0.0.0.0 or ::"))
    port: int = field(default=8000, metadata=_help("TCP port"))
    workers: int = field(default=1, metadata=_help("inference worker processes per device, each with its model"))
    api_servers: int = field(default=1, metadata=_help("HTTP server processes (they only parse and validate)"))
    accelerator: str = field(default="auto", metadata=_help("auto, cpu, cuda or mps"))
    threads_per_worker: int = field(default=0, metadata=_help("torch CPU threads per worker; 0: cores / workers"))
    backend: str | None = field(default=None, metadata=_help(
        "inference backend: torch-fp32, torch-int8, onnx-fp32 or onnx-int8; empty: the model folder's, "
        "else the Predictor's default (as `standpoint predict`)"))
    max_batch_size: int = field(default=16, metadata=_help("requests merged into one dynamic batch"))
    batch_timeout_ms: float = field(default=10.0, metadata=_help("how long a batch waits to fill, in ms"))
    rows_per_forward: int = field(default=0, metadata=_help(
        "encoder rows (one per statement and target, plus its sentiment row) per forward pass; "
        "0: 16 on CPU, where padding costs more than batching saves, 128 on a GPU"))
    max_texts: int = field(default=64, metadata=_help("texts in one /predict request (more: 413)"))
    max_document_chars: int = field(default=100_000, metadata=_help("characters in one /analyze document (more: 413)"))
    max_statements: int = field(default=512, metadata=_help("statements a document may split into (more: 413)"))
    max_adhoc_targets: int = field(default=8, metadata=_help("ad-hoc targets in one request (more: 422)"))
    max_payload_bytes: int = field(default=1_048_576, metadata=_help("request body size (more: 413)"))
    request_timeout_s: float = field(default=30.0, metadata=_help("a request not answered by then gets 504"))
    log_level: str = field(default="info", metadata=_help("critical, error, warning, info or debug"))
    api_key: str | None = field(default=None, repr=False,
                                metadata=_help(f"from {API_KEY_ENV} only; when set, /predict and /analyze need it"))

    def __post_init__(self):
        for key in ("port", "workers", "api_servers", "max_batch_size", "max_texts",
                    "max_document_chars", "max_statements", "max_payload_bytes", "request_timeout_s"):
            if not getattr(self, key) > 0:
                raise SettingsError(f"'{key}' must be positive, got {getattr(self, key)!r}")
        for key in ("threads_per_worker", "rows_per_forward", "batch_timeout_ms", "max_adhoc_targets"):
            if getattr(self, key) < 0:
                raise SettingsError(f"'{key}' must be 0 or more, got {getattr(self, key)!r}")
        if self.host == "localhost":
            self.host = "127.0.0.1"
        if self.host not in HOSTS:
            raise SettingsError(f"'host' {self.host!r}: LitServe binds one of {', '.join(HOSTS)}")
        if not 1024 <= self.port <= 65535:
            raise SettingsError(f"'port' {self.port}: use 1024..65535")
        if self.accelerator not in ACCELERATORS:
            raise SettingsError(f"'accelerator' {self.accelerator!r}: choose one of {', '.join(ACCELERATORS)}")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"'log_level' {self.log_level!r}: choose one of {', '.join(LOG_LEVELS)}")
        if self.batch_timeout_ms / 1000 >= self.request_timeout_s:
            raise SettingsError(f"'batch_timeout_ms' ({self.batch_timeout_ms}) must be shorter than "
                                f"'request_timeout_s' ({self.request_timeout_s} s)")

    @property
    def model_path(self) -> Path:
        return resolve_path(self.model)

    @property
    def targets_path(self) -> Path | None:
        return resolve_path(self.targets_file) if self.targets_file else None

    @classmethod
    def load(cls, path: str | Path | None = DEFAULT_SETTINGS_FILE, env: Mapping[str, str] | None = None,
             overrides: Mapping[str, object] | None = None) -> "ServeSettings":
        """Merge the layers; ``overrides`` (flags) whose value is None are left out."""
        values: dict[str, object] = {}
        if path is not None:
            values.update(_read_file(Path(path)))
        env = os.environ if env is None else env
        for f in dataclasses.fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if f.name != "api_key" and name in env:
                values[f.name] = _coerce(f, env[name], where=name)
        values["api_key"] = env.get(API_KEY_ENV) or None
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls(**values)

    def public(self) -> dict:
        """The settings without the API key (for /info and logs)."""
        out = dataclasses.asdict(self)
        out["api_key"] = "set" if self.api_key else None
        return out


def resolve_path(p: str) -> Path:
    """Relative paths are taken from the working directory, else from the repository root."""
    return Path(repo_path(p))


def _read_file(path: Path) -> dict:
    known = {f.name: f for f in dataclasses.fields(ServeSettings) if f.name != "api_key"}
    doc = read_settings(path, [*known, "api_key"], SettingsError, what="settings file")
    if "api_key" in doc:
        raise SettingsError(f"{path}: 'api_key' is read from the environment ({API_KEY_ENV}), not from a file")
    return {k: _coerce(known[k], v, where=f"{path}: '{k}'") for k, v in doc.items()}


def _coerce(f: dataclasses.Field, raw, where: str):
    """A file or environment value as the field's type (int, float, str; '' or null for optional ones)."""
    optional = f.default is None or "None" in str(f.type)
    if raw is None or (optional and raw == ""):
        if optional:
            return None
        raise SettingsError(f"{where}: needs a value")
    kind = type(f.default) if f.default is not None else str
    try:
        if kind is int and not isinstance(raw, bool):
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(raw)
        if kind is float and not isinstance(raw, bool):
            return float(raw)
        if kind is str and isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
            return str(raw)
    except ValueError:
        pass
    raise SettingsError(f"{where}: expected {'a number' if kind in (int, float) else 'text'}"
                        f"{' (whole)' if kind is int else ''}, got {raw!r}")


def settings_table() -> str:
    """Markdown rows documenting every setting (kept in serve/README.md)."""
    rows = ["| key | env | default | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(ServeSettings):
        env = API_KEY_ENV if f.name == "api_key" else ENV_PREFIX + f.name.upper()
        rows.append(f"| `{f.name}` | `{env}` | `{f.default}` | {f.metadata['help']} |")
    return "\n".join(rows)
