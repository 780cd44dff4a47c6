"""Inference backends: what runs a padded batch through the encoder and the two heads.

    torch-fp32   PyTorch eager, float32: the reference every other backend is checked against
    torch-int8   PyTorch eager, the encoder's Linear layers dynamically quantized to int8
                 (``torch.ao.quantization.quantize_dynamic``, per-channel weights)
    onnx-fp32    ONNX Runtime over the model exported with ``torch.onnx`` (dynamic batch and length)
    onnx-int8    ONNX Runtime, that export with its weight MatMuls dynamically quantized to int8

The int8 backends run a batch row by row (``RowByRow``): dynamic quantization would otherwise
make a statement's answer depend on the statements batched with it.

Every backend maps ``{"input_ids", "attention_mask"[, "token_type_ids"]}`` to the
(stance, sentiment) logits; the Predictor applies temperatures and softmax, so all backends
share one pre- and post-processing path.

ONNX files are built from the model on first use and cached beside it in
``<model>/.cache/onnx/`` (or a temp folder for an in-memory or read-only model), with a
``manifest.json`` holding a hash of the weights: a cache built from other weights, or by an
older export recipe, is detected, logged, and rebuilt. Choose a backend with
``Predictor(..., backend=NAME)``, ``--backend NAME`` or ``"backend": NAME`` in ``standpoint.json``;
``bench/predict_bench.py`` measures them all.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

log = logging.getLogger("standpoint.backends")

BACKENDS = ("torch-fp32", "torch-int8", "onnx-fp32", "onnx-int8")
# The fastest backend within 0.5 points of torch-fp32 on SemEval-2016 A (F_avg) and on the
# domain dev split (macro-F1), measured by bench/predict_bench.py (bench/README.md has the numbers).
DEFAULT_BACKEND = "onnx-fp32"
FALLBACK_BACKEND = "torch-fp32"
CPU_ONLY = frozenset({"torch-int8", "onnx-fp32", "onnx-int8"})
# Bump when the export or quantization recipe changes: every cached export is then rebuilt.
EXPORT_RECIPE = 1
ONNX_FILES = {"onnx-fp32": "model.onnx", "onnx-int8": "model.int8.onnx"}
INSTALL_HINT = "pip install onnxruntime onnx (project dependencies: `make setup` installs them)"


class BackendError(ValueError):
    """A backend that cannot be used here; the message says which to pick or what to install."""


class Backend(Protocol):
    name: str

    def logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(stance logits, sentiment logits) for a padded batch."""


class TorchBackend:
    def __init__(self, model: nn.Module, name: str = "torch-fp32"):
        self.model = model
        self.name = name

    def logits(self, batch):
        pooled = self.model.pooled(**batch)
        return self.model.stance_head(pooled), self.model.sentiment_head(pooled)


class OnnxBackend:
    def __init__(self, path: Path, input_names: list[str], name: str):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Follow torch's thread count, which the server sets per worker.
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = input_names
        self.path = path
        self.name = name

    def logits(self, batch):
        stance, sentiment = self.session.run(None, {k: batch[k].numpy() for k in self.input_names})
        return torch.from_numpy(stance), torch.from_numpy(sentiment)


class RowByRow:
    """Runs each row of a batch on its own, without its padding. Dynamic int8 quantization scales
    activations by their range over the whole input, so rows batched together would change each
    other's answers; one row at a time, a statement's answer never depends on its batch (and no
    padding is computed, which is why this costs little)."""

    def __init__(self, inner: Backend):
        self.inner = inner
        self.name = inner.name

    def logits(self, batch):
        lengths = batch["attention_mask"].sum(1).tolist()  # rows are padded on the right
        outs = [self.inner.logits({k: v[i:i + 1, :n].contiguous() for k, v in batch.items()})
                for i, n in enumerate(lengths)]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])


# ------------------------------------------------------------------------------------ choosing


def resolve_backend(requested: str | None, metadata: dict, device: str = "cpu",
                    default: str = DEFAULT_BACKEND) -> tuple[str, bool]:
    """(backend name, whether it was asked for explicitly): the argument, else the model
    folder's ``"backend"``, else ``default``. A CPU-only default on another device becomes
    torch-fp32; a CPU-only backend asked for on another device is an error."""
    if requested:
        name, source, explicit = requested, "the backend argument", True
    elif metadata.get("backend"):
        name, source, explicit = metadata["backend"], "standpoint.json 'backend'", False
    else:
        name, source, explicit = default, "the default", False
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r} (from {source}); choose one of {', '.join(BACKENDS)}")
    if name in CPU_ONLY and not str(device).startswith("cpu"):
        if explicit:
            raise BackendError(f"backend {name!r} runs on CPU only, but device is {device!r}; "
                               f"use --backend torch-fp32 on {device}")
        log.info("backend %s is CPU-only; using %s on %s", name, FALLBACK_BACKEND, device)
        return FALLBACK_BACKEND, False
    return name, explicit


def build_backend(name: str, model: nn.Module, *, model_dir: str | Path | None = None,
                  input_names: list[str] | None = None, explicit: bool = True) -> Backend:
    """The backend ``name`` over ``model`` (left unchanged). A missing onnxruntime is a
    BackendError when the ONNX backend was asked for, and a logged fallback to torch-fp32
    when it was only a default."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "torch-fp32":
        return TorchBackend(model)
    if name == "torch-int8":
        return RowByRow(TorchBackend(quantized_copy(model), "torch-int8"))
    missing = missing_onnx_packages()
    if missing:
        message = f"backend {name!r} needs {' and '.join(missing)}, not installed: {INSTALL_HINT}"
        if explicit:
            raise BackendError(message + ", or choose torch-fp32 or torch-int8")
        log.warning("%s; falling back to %s", message, FALLBACK_BACKEND)
        return TorchBackend(model)
    names = input_names or ["input_ids", "attention_mask", "token_type_ids"]
    cache = OnnxCache(model, names, model_dir)
    path = cache.ensure(name)
    try:
        backend = OnnxBackend(path, names, name)
    except Exception as exc:  # onnxruntime raises its own types for a damaged file
        log.warning("cached %s cannot be loaded (%s: %s); rebuilding it", path, type(exc).__name__, exc)
        cache.clear()
        backend = OnnxBackend(cache.ensure(name), names, name)
    return RowByRow(backend) if name == "onnx-int8" else backend


def missing_onnx_packages() -> list[str]:
    missing = []
    for module in ("onnxruntime", "onnx"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    return missing


def quantized_copy(model: nn.Module) -> nn.Module:
    """A copy whose encoder Linear layers are int8 (per-channel weights, activations quantized
    per call). The heads stay fp32: they are tiny, and keeping them costs nothing."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    quantized = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        quantize_dynamic(quantized.encoder, {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    return quantized


# ------------------------------------------------------------------------------ ONNX export cache


def weights_fingerprint(model: nn.Module) -> str:
    """Hash of every parameter and buffer: what a cached export must have been built from."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class OnnxCache:
    """``model.onnx`` and ``model.int8.onnx`` for one model's weights, built on demand."""

    def __init__(self, model: nn.Module, input_names: list[str], model_dir: str | Path | None):
        self.model = model
        self.input_names = list(input_names)
        self.fingerprint = weights_fingerprint(model)
        self.folder = self._writable_folder(model_dir)

    def _writable_folder(self, model_dir) -> Path:
        if model_dir is not None:
            folder = Path(model_dir) / ".cache" / "onnx"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if os.access(folder, os.W_OK):
                    return folder
            except OSError:
                pass
            log.info("%s is not writable; caching ONNX files in the temp folder", folder)
        folder = Path(tempfile.gettempdir()) / "standpoint-onnx" / self.fingerprint
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def manifest(self) -> dict:
        import onnxruntime

        return {"recipe": EXPORT_RECIPE, "weights": self.fingerprint, "inputs": self.input_names,
                "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}

    def _stale_reason(self) -> str | None:
        """Why the cached files cannot be used as they are; None when they can."""
        path = self.folder / "manifest.json"
        if not path.is_file():
            return None if not any(self.folder.glob("*.onnx")) else "no manifest"
        try:
            built = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return "unreadable manifest"
        if built.get("weights") != self.fingerprint:
            return f"built from weights {built.get('weights')}, the model's are {self.fingerprint}"
        if built.get("recipe") != EXPORT_RECIPE:
            return f"export recipe {built.get('recipe')}, this code writes {EXPORT_RECIPE}"
        if built.get("inputs") != self.input_names:
            return f"inputs {built.get('inputs')}, the tokenizer gives {self.input_names}"
        return None

    def clear(self) -> None:
        for name in (*ONNX_FILES.values(), "manifest.json"):
            (self.folder / name).unlink(missing_ok=True)

    def ensure(self, backend: str) -> Path:
        """The ONNX file for ``backend``, exported (and quantized) now if absent or stale."""
        reason = self._stale_reason()
        if reason:
            log.warning("stale ONNX export in %s (%s); rebuilding", self.folder, reason)
            self.clear()
        fp32 = self.folder / ONNX_FILES["onnx-fp32"]
        if not fp32.is_file():
            log.info("exporting the model to ONNX in %s (once; cached for later runs)", self.folder)
            self._atomic_write(fp32, self._export)
        target = self.folder / ONNX_FILES[backend]
        if not target.is_file():
            log.info("quantizing the ONNX export to int8 in %s (once; cached for later runs)", self.folder)
            self._atomic_write(target, lambda out: quantize_onnx(fp32, out))
        return target

    @staticmethod
    def _atomic_write(path: Path, build) -> None:
        # Workers of one server may build at the same time: each writes its own temp file and
        # the rename is atomic, so a reader sees a whole file or none.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
        os.close(fd)
        try:
            build(Path(tmp))
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from other users of the model
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _export(self, out: Path) -> None:
        export_onnx(self.model, out, self.input_names)
        # The manifest lands before model.onnx is renamed into place, so a process that sees
        # model.onnx also sees what it was built from.
        manifest = json.dumps(self.manifest, indent=2) + "\n"
        self._atomic_write(self.folder / "manifest.json", lambda path: path.write_text(manifest, encoding="utf-8"))


class _LogitsModule(nn.Module):
    """The model as torch.onnx sees it: named inputs in, (stance, sentiment) logits out."""

    def __init__(self, model: nn.Module, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs):
        pooled = self.model.pooled(**dict(zip(self.input_names, inputs)))
        return self.model.stance_head(pooled), self.model.sentiment_head(pooled)


def export_onnx(model: nn.Module, out: Path, input_names: list[str]) -> None:
    """Export with dynamic batch and sequence axes. The sample batch has a padded row, so the
    attention mask is traced as data, never folded away as all ones."""
    lengths = (7, 4)
    ids = torch.full((2, max(lengths)), 0, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.arange(1000, 1000 + n)
        mask[i, :n] = 1
    sample = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    sample["token_type_ids"][0, 3:7] = 1
    axes = {name: {0: "batch", 1: "length"} for name in input_names}
    axes.update({"stance_logits": {0: "batch"}, "sentiment_logits": {0: "batch"}})
    wrapper = _LogitsModule(model, input_names).eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        # dynamo=False: the TorchScript exporter needs no onnxscript and handles this BERT graph.
        torch.onnx.export(wrapper, tuple(sample[n] for n in input_names), str(out), input_names=input_names,
                          output_names=["stance_logits", "sentiment_logits"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def quantize_onnx(fp32: Path, out: Path) -> None:
    """int8 weights (per output channel) for the encoder's weight MatMuls only: the attention
    score MatMuls (activation x activation) and the heads stay fp32, which keeps labels close
    to fp32 (see bench/README.md for the agreement)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32)).graph
    weights = {init.name for init in graph.initializer}
    nodes = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]
    advice = _DropRecords("pre-processing before quantization")  # a notice on the root logger
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_quantize=nodes, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.getLogger().removeFilter(advice)


class _DropRecords(logging.Filter):
    def __init__(self, fragment: str):
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()
