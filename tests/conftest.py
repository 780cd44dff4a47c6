"""Shared fixtures: one real MiniLM model trained for a few steps on the tiny fixture, reused by tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"


def tiny_config(**overrides):
    from training.config import TrainConfig

    settings = dict(name="tiny", train=[str(FIXTURES / "tiny_train.jsonl")],
                    validation=[str(FIXTURES / "tiny_dev.jsonl")], epochs=2, batch_size=8,
                    max_length=64, learning_rate=5e-5, logging_steps=1,
                    default_targets=["foreign_military_presence", "recognition"])
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(in-memory model, tokenizer, metadata, saved folder) from a real short training run."""
    from model.folder import save_model_folder
    from training.train import fit

    work = tmp_path_factory.mktemp("tiny")
    model, tokenizer, metadata = fit(tiny_config(), work / "checkpoints")
    folder = save_model_folder(model, tokenizer, work / "model", metadata)
    return model, tokenizer, metadata, folder


@pytest.fixture(scope="session")
def model_dir(trained) -> Path:
    return trained[3]


def shared_data_or_skip():
    from standpoint.adapters import shared_data_root

    root = shared_data_root()
    if not (root / "semeval2016_task6").is_dir():
        if os.environ.get("STANDPOINT_REQUIRE_SHARED_DATA"):
            pytest.fail(f"{root} is missing but STANDPOINT_REQUIRE_SHARED_DATA is set (CI requires it)")
        pytest.skip(f"{root} not found: set STANDPOINT_SHARED_DATA to run the external-data tests")
    return root
