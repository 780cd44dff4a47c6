"""Predictor backends on the real tiny model: labels agree with fp32, ONNX caches are rebuilt when
stale or damaged, and a missing onnxruntime or a wrong name is a one-line error, not a crash."""

import importlib.util
import json
import logging
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model.backends import BACKENDS, BackendError, resolve_backend
from model.predictor import Predictor

TEXTS = ["The government asked the US to keep its troops here for another decade.",
         "Recognising the junta would reward a coup.",
         "Prices of bread rose again this week.",
         "Foreign soldiers have no business on our soil.",
         "We welcome the embassy reopening in the capital after ten years.",
         "The new base will bring jobs to the region, and the mayor is glad.",
         "Nobody asked the people who live near the airfield.",
         "Our parliament voted to expel the mission, a shameful day.",
         "The alliance promised to withdraw its advisers by spring.",
         "Recognition of the government in exile is long overdue.",
         "ok",
         " ".join(["The contractors left quietly at night and the port is empty again."] * 6)]
TARGETS = ["foreign_military_presence", "recognition"]
# The fixture model is trained for a few steps, so many of its probabilities sit close together
# and int8 rounding can flip a label where a trained model would not; the bench measures the
# trained models (bench/README.md). fp32 backends must agree exactly.
MIN_AGREEMENT = {"torch-fp32": 1.0, "onnx-fp32": 1.0, "torch-int8": 0.85, "onnx-int8": 0.85}


@pytest.fixture(scope="module")
def folder(model_dir, tmp_path_factory) -> Path:
    """A private copy, so the ONNX cache written here is this module's alone."""
    copy = tmp_path_factory.mktemp("backends") / "model"
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns(".cache"))
    return copy


@pytest.fixture(scope="module")
def fp32_predictions(folder):
    return Predictor(folder, backend="torch-fp32").predict(TEXTS, targets=TARGETS)


def labels(preds) -> list[str]:
    return [s.label for p in preds for s in (p.sentiment, *(p.stances[t] for t in TARGETS))]


def probabilities(preds) -> list[float]:
    return [x for p in preds for s in (p.sentiment, *(p.stances[t] for t in TARGETS)) for x in s.probability.values()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_labels_agree_with_fp32(folder, fp32_predictions, backend):
    preds = Predictor(folder, backend=backend).predict(TEXTS, targets=TARGETS)
    assert Predictor(folder, backend=backend).backend.name == backend
    want, got = labels(fp32_predictions), labels(preds)
    agreement = sum(a == b for a, b in zip(want, got)) / len(want)
    print(f"{backend}: {agreement:.3f} of {len(want)} labels agree with torch-fp32")
    assert agreement >= MIN_AGREEMENT[backend], f"{backend}: only {agreement:.3f} of labels agree with fp32"
    if backend.endswith("fp32"):
        assert probabilities(preds) == pytest.approx(probabilities(fp32_predictions), abs=1e-4)
    for p in preds:
        for score in (p.sentiment, *p.stances.values()):
            assert sum(score.probability.values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batching_does_not_change_any_backends_answers(folder, backend):
    """int8 quantizes activations per call, so the int8 backends run rows one at a time."""
    one = Predictor(folder, backend=backend, batch_size=1).predict(TEXTS, targets=TARGETS)
    many = Predictor(folder, backend=backend, batch_size=64).predict(TEXTS, targets=TARGETS)
    assert probabilities(one) == pytest.approx(probabilities(many), abs=1e-4)


def test_onnx_files_are_cached_beside_the_model_with_their_weights_hash(folder):
    Predictor(folder, backend="onnx-int8")
    cache = folder / ".cache" / "onnx"
    manifest = json.loads((cache / "manifest.json").read_text())
    assert (cache / "model.onnx").is_file() and (cache / "model.int8.onnx").is_file()
    assert len(manifest["weights"]) == 16 and manifest["inputs"][:2] == ["input_ids", "attention_mask"]


def test_stale_export_is_detected_and_rebuilt(folder, tmp_path, caplog):
    changed = tmp_path / "changed"
    shutil.copytree(folder, changed)  # with the cache built from the old weights
    heads = load_file(changed / "heads.safetensors")
    heads["stance_head.bias"] = heads["stance_head.bias"] + torch.tensor([2.0, -1.0, 0.0])
    save_file(heads, changed / "heads.safetensors")
    with caplog.at_level(logging.INFO, logger="standpoint.backends"):
        rebuilt = Predictor(changed, backend="onnx-fp32").predict(TEXTS, targets=TARGETS)
    assert any("stale ONNX export" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records)
    reference = Predictor(changed, backend="torch-fp32").predict(TEXTS, targets=TARGETS)
    assert probabilities(rebuilt) == pytest.approx(probabilities(reference), abs=1e-4)


def test_damaged_export_is_rebuilt(folder, tmp_path, caplog):
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    onnx_file = damaged / ".cache" / "onnx" / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="standpoint.backends"):
        preds = Predictor(damaged, backend="onnx-fp32").predict(TEXTS[:3], targets=TARGETS)
    assert any("cannot be loaded" in r.getMessage() for r in caplog.records)
    assert onnx_file.stat().st_size > 1_000_000 and len(preds) == 3


@pytest.fixture
def without_onnxruntime(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError


def test_missing_onnxruntime_asked_for_is_a_clear_error(folder, without_onnxruntime):
    with pytest.raises(BackendError, match=r"'onnx-int8' needs onnxruntime.*pip install onnxruntime onnx"):
        Predictor(folder, backend="onnx-int8")


def test_missing_onnxruntime_as_default_falls_back_to_fp32(folder, tmp_path, without_onnxruntime, caplog):
    configured = tmp_path / "configured"
    shutil.copytree(folder, configured, ignore=shutil.ignore_patterns(".cache"))
    meta = json.loads((configured / "standpoint.json").read_text())
    (configured / "standpoint.json").write_text(json.dumps({**meta, "backend": "onnx-fp32"}))
    with caplog.at_level(logging.WARNING, logger="standpoint.backends"):
        predictor = Predictor(configured)
    assert predictor.backend.name == "torch-fp32"
    assert any("falling back to torch-fp32" in r.getMessage() for r in caplog.records)
    assert len(predictor.predict(TEXTS[:2])) == 2


def test_cli_names_the_missing_package_in_one_line(folder, tmp_path, without_onnxruntime, capsys):
    from standpoint.cli import main

    (tmp_path / "in.txt").write_text("Troops out.\n")
    code = main(["predict", "--model", str(folder), "--backend", "onnx-fp32", "--input", str(tmp_path / "in.txt")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "needs onnxruntime" in err and "Traceback" not in err


def test_backend_comes_from_the_model_folder(folder, tmp_path):
    configured = tmp_path / "configured"
    shutil.copytree(folder, configured, ignore=shutil.ignore_patterns(".cache"))
    meta = json.loads((configured / "standpoint.json").read_text())
    (configured / "standpoint.json").write_text(json.dumps({**meta, "backend": "torch-int8"}))
    assert Predictor(configured).backend.name == "torch-int8"
    assert Predictor(configured, backend="torch-fp32").backend.name == "torch-fp32"  # the argument wins
    (configured / "standpoint.json").write_text(json.dumps({**meta, "backend": "tensorrt"}))
    with pytest.raises(BackendError, match=r"unknown backend 'tensorrt' \(from standpoint.json"):
        Predictor(configured)


def test_in_memory_model_defaults_to_eager_fp32(trained):
    model, tokenizer, metadata, _ = trained
    assert Predictor.from_model(model, tokenizer, metadata).backend.name == "torch-fp32"


def test_cpu_only_backends_on_another_device():
    assert resolve_backend(None, {}, "cuda") == ("torch-fp32", False)
    assert resolve_backend(None, {"backend": "onnx-int8"}, "cuda:0") == ("torch-fp32", False)
    with pytest.raises(BackendError, match="CPU only"):
        resolve_backend("onnx-int8", {}, "cuda")
    assert resolve_backend("onnx-int8", {}, "cpu") == ("onnx-int8", True)


def test_bench_default_is_the_fastest_accurate_batch_invariant_backend(monkeypatch):
    path = Path(__file__).resolve().parents[1] / "bench" / "predict_bench.py"
    spec = importlib.util.spec_from_file_location("predict_bench", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "predict_bench", bench)  # its dataclasses look themselves up there
    spec.loader.exec_module(bench)
    runs = [{"backend": b, "batch_size": 32, "throughput": t}
            for b, t in [("torch-fp32", 20.0), ("torch-int8", 60.0), ("onnx-fp32", 45.0), ("onnx-int8", 110.0)]]
    delta = {"torch-fp32": {"semeval_a_f_avg": 0.0, "domain_dev_macro_f1": 0.0, "batch_max_prob_change": 1e-6},
             "torch-int8": {"semeval_a_f_avg": -1.2, "domain_dev_macro_f1": 0.1, "batch_max_prob_change": 0.2},
             "onnx-fp32": {"semeval_a_f_avg": 0.0, "domain_dev_macro_f1": 0.0, "batch_max_prob_change": 0.0},
             "onnx-int8": {"semeval_a_f_avg": -0.3, "domain_dev_macro_f1": 0.2, "batch_max_prob_change": 0.1}}
    default, rejected = bench.choose_default(runs, delta)
    assert default == "onnx-fp32"
    assert "semeval_a_f_avg" in rejected["torch-int8"] and "depend on the batch" in rejected["onnx-int8"]
    assert bench.encoder_flops(10, type("C", (), {"hidden_size": 4, "intermediate_size": 8,
                                                 "num_hidden_layers": 2})()) == 2 * (8 * 10 * 16 + 4 * 10 * 32 + 4 * 100 * 4)
