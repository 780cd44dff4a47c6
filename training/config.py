"""Training configuration: a dataclass read from YAML, validated with messages that say what to change."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from standpoint.augment import base_spec, parse_spec
from standpoint.yamlfile import read_settings

SELECT_METRICS = ("score", "stance_macro_f1", "stance_f_avg", "sentiment_macro_f1")


class ConfigError(ValueError):
    """A training config that cannot run; the message names the key and what would be right."""


@dataclass
class TrainConfig:
    name: str = "standpoint"
    base_encoder: str = "all-MiniLM-L6-v2"
    targets_file: str = "configs/targets.yaml"
    # targets served when a request names none; default: every target seen in training
    default_targets: list[str] = field(default_factory=list)
    train: list[str] = field(default_factory=list)          # data SPECs (JSONL paths or named sets)
    validation: list[str] = field(default_factory=list)     # data SPECs; or carve from train:
    validation_fraction: float = 0.0
    # train specs the fraction is carved from (default: all of them); the rest train whole
    carve_from: list[str] = field(default_factory=list)
    # seed of that carve (default: ``seed``); fix it to compare training seeds on one validation set
    carve_seed: int | None = None
    # train spec -> how many times its training records are repeated per epoch (after the
    # validation carve, so no copy reaches validation): more passes over a small set in a big mix
    oversample: dict[str, int] = field(default_factory=dict)
    max_length: int = 160
    epochs: float = 3.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    dropout: float = 0.1
    sentiment_weight: float = 1.0
    seed: int = 42
    select_metric: str = "score"
    # distillation: train spec -> its teacher soft-label file (training/soft_labels.py);
    # loss = (1 - distill_weight) * gold CE + distill_weight * T^2 * KL(teacher_T || student_T)
    soft_labels: dict[str, str] = field(default_factory=dict)
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    # bf16 mixed precision (autocast; weights stay fp32) where the hardware runs it natively
    # (a CPU with AVX512-BF16 or AMX, or a bf16 GPU); elsewhere training falls back to fp32
    bf16: bool = False
    max_train_records: int | None = None   # cap per train spec (for smoke runs)
    logging_steps: int = 50

    def __post_init__(self):
        if not self.train:
            raise ConfigError("'train' is empty: list at least one data spec (JSONL path or named set)")
        if not self.validation and not 0 < self.validation_fraction < 1:
            raise ConfigError("give 'validation' specs, or 'validation_fraction' between 0 and 1 to carve it from train")
        if self.validation_fraction and not 0 < self.validation_fraction < 1:
            raise ConfigError(f"'validation_fraction' {self.validation_fraction!r}: use a number between 0 and 1")
        stray = [s for s in self.carve_from if s not in self.train]
        if stray:
            raise ConfigError(f"'carve_from' {stray}: each must also be listed in 'train'")
        if self.carve_seed is not None and (isinstance(self.carve_seed, bool) or not isinstance(self.carve_seed, int)):
            raise ConfigError(f"'carve_seed' {self.carve_seed!r}: use a whole number, or leave it out to use 'seed'")
        if self.carve_from and not self.validation_fraction:
            raise ConfigError("'carve_from' needs 'validation_fraction' (how much of them to hold out)")
        if not isinstance(self.oversample, dict):
            raise ConfigError("'oversample' must map train specs to whole repeat counts, e.g. {semeval-train: 3}")
        stray = [s for s in self.oversample if s not in self.train]
        if stray:
            raise ConfigError(f"'oversample' keys {stray}: each must be a spec listed in 'train'")
        bad = {s: k for s, k in self.oversample.items() if isinstance(k, bool) or not isinstance(k, int) or k < 1}
        if bad:
            raise ConfigError(f"'oversample' {bad}: repeat counts must be whole numbers >= 1")
        if not 0 <= self.distill_weight <= 1:
            raise ConfigError(f"'distill_weight' {self.distill_weight!r}: use 0 (gold labels only) to 1 (teacher only)")
        if not self.distill_temperature > 0:
            raise ConfigError(f"'distill_temperature' must be positive, got {self.distill_temperature!r}")
        if self.distill_weight > 0 and not self.soft_labels:
            raise ConfigError("'distill_weight' > 0 needs 'soft_labels' (train spec -> teacher soft-label file)")
        if not isinstance(self.soft_labels, dict):
            raise ConfigError("'soft_labels' must map each train spec to its soft-label file")
        stray = [s for s in self.soft_labels if s not in self.train]
        if stray:
            raise ConfigError(f"'soft_labels' keys {stray}: each must be a spec listed in 'train'")
        for spec in [*self.train, *self.validation]:
            try:
                base = base_spec(spec)
            except ValueError as exc:  # a bad ~augK
                raise ConfigError(str(exc)) from None
            if "test" in Path(base).stem.split("-"):  # semeval-a-test, vast-test-zeroshot, test.jsonl
                raise ConfigError(f"data spec {spec!r} is a test split: test splits are for final measurement only")
        augmented = [s for s in self.train if parse_spec(s)]
        stray = [s for s in [*self.validation, *self.carve_from] if parse_spec(s)]
        if stray:
            raise ConfigError(f"{stray}: perturbed copies (~aug) only train; validate on real text")
        stray = [s for s in augmented if s not in self.soft_labels]
        if stray:
            raise ConfigError(f"{stray}: perturbed copies train on teacher soft labels alone; "
                              "give each a 'soft_labels' file")
        if self.select_metric not in SELECT_METRICS:
            raise ConfigError(f"'select_metric' {self.select_metric!r}: choose one of {', '.join(SELECT_METRICS)}")
        for key in ("epochs", "batch_size", "learning_rate", "max_length"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"'{key}' must be positive, got {getattr(self, key)!r}")
        if not 16 <= self.max_length <= 512:
            raise ConfigError(f"'max_length' {self.max_length}: use 16..512 (the encoder's window)")

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        doc = read_settings(path, (f.name for f in dataclasses.fields(cls)), ConfigError)
        try:
            return cls(**doc)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
