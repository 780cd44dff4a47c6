"""Fine-tune a Standpoint model:  standpoint train --config configs/default.yaml [--output DIR]

Hugging Face ``Trainer`` over *rows*: each statement gives one sentiment row (text alone) and
one stance row per labelled target ((description, text) pair). Unlabelled targets give no row
and an unlabelled sentiment gives no row, so they are masked from the loss. The checkpoint with
the best validation ``select_metric`` is kept; test splits are refused by the config.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import datasets
import torch
from transformers import Trainer, TrainingArguments, set_seed

from eval.metrics import f_avg as official_f_avg
from eval.metrics import sentiment_scores, stance_scores
from model.calibration import fit_temperature, nll
from model.encoders import resolve_encoder
from model.folder import build_model, save_model_folder
from model.inputs import SENTIMENT_TASK, STANCE_TASK, EncodedRow, RowEncoder, pad_rows
from model.modeling import IGNORE
from standpoint.adapters import load_spec
from standpoint.augment import is_augmented, source_id
from standpoint.records import SENTIMENT_LABELS, STANCE_LABELS, LabelledSet, StanceRecord
from standpoint.targets import repo_path

from .config import ConfigError, TrainConfig
from .soft_labels import SoftLabel, load_for_config, sharpen

log = logging.getLogger("standpoint.train")
STANCE_ID = {label: i for i, label in enumerate(STANCE_LABELS)}
SENTIMENT_ID = {label: i for i, label in enumerate(SENTIMENT_LABELS)}


def load_sets(specs: list[str], targets_file: str, cap: int | None = None) -> LabelledSet:
    return _union([_load_capped(spec, targets_file, cap) for spec in specs])


def _load_capped(spec: str, targets_file: str, cap: int | None) -> LabelledSet:
    labelled = load_spec(repo_path(spec), targets_file)
    return LabelledSet(labelled.name, labelled.records[:cap] if cap else labelled.records, labelled.targets)


def _union(parts: list[LabelledSet]) -> LabelledSet:
    """The sets one after another (names joined with '+'; empty sets keep their targets)."""
    return LabelledSet("+".join(p.name for p in parts), [r for p in parts for r in p.records],
                       {k: v for p in parts for k, v in p.targets.items()})


def carve_validation(data: LabelledSet, fraction: float, seed: int) -> tuple[LabelledSet, LabelledSet]:
    """Hold out ``fraction`` of each target's records (seeded), for sets without a dev split."""
    rng = random.Random(seed)
    by_key: dict[str, list[StanceRecord]] = {}
    for r in data.records:
        by_key.setdefault(",".join(sorted(r.stances)) or "-", []).append(r)
    train, val = [], []
    for key in sorted(by_key):
        group = by_key[key][:]
        rng.shuffle(group)
        k = max(1, round(len(group) * fraction))
        val.extend(group[:k])
        train.extend(group[k:])
    return (LabelledSet(data.name + ":train", train, data.targets),
            LabelledSet(data.name + ":validation", val, data.targets))


def merge_sets(*sets: LabelledSet) -> LabelledSet:
    """The non-empty sets one after another."""
    return _union([s for s in sets if s.records])


def split_sets(config: TrainConfig, targets_file: Path) -> tuple[LabelledSet, LabelledSet]:
    """(train, validation): the ``validation`` specs, plus ``validation_fraction`` carved
    from the ``carve_from`` train specs (all train specs when none are named)."""
    loaded = {spec: _load_capped(spec, targets_file, config.max_train_records) for spec in config.train}
    if not config.validation_fraction:
        train_set, val_set = _union(list(loaded.values())), load_sets(config.validation, targets_file)
    else:
        carve = config.carve_from or config.train
        whole = [loaded[s] for s in config.train if s not in carve]
        carve_seed = config.seed if config.carve_seed is None else config.carve_seed
        kept, held = carve_validation(_union([loaded[s] for s in carve]), config.validation_fraction, carve_seed)
        train_set = merge_sets(_union(whole), kept) if whole else kept
        val_set = merge_sets(load_sets(config.validation, targets_file), held) if config.validation else held
    return oversample(drop_copies_of(train_set, val_set), config.oversample, loaded), val_set


def drop_copies_of(train: LabelledSet, validation: LabelledSet) -> LabelledSet:
    """``train`` without the perturbed copies (``~aug``) of validation records."""
    held = {r.id for r in validation.records}
    records = [r for r in train.records if not (is_augmented(r) and source_id(r.id) in held)]
    if len(records) < len(train.records):
        log.info("dropped %d perturbed copies of validation records from training",
                 len(train.records) - len(records))
    return LabelledSet(train.name, records, train.targets)


def oversample(data: LabelledSet, factors: Mapping[str, int], sets: Mapping[str, LabelledSet]) -> LabelledSet:
    """Repeat the training records of each spec in ``factors`` (spec -> its loaded ``sets`` entry)
    that many times (records are matched by id, so only the ones left after the validation carve
    are repeated)."""
    factor_of = {r.id: k for spec, k in factors.items() if k > 1 for r in sets[spec].records}
    if not factor_of:
        return data
    records = [r for r in data.records for _ in range(factor_of.get(r.id, 1))]
    log.info("oversampled %s: %d -> %d training records", dict(factors), len(data.records), len(records))
    return LabelledSet(data.name, records, data.targets)


def encode_rows(data: LabelledSet, encoder: RowEncoder, soft: Mapping[str, SoftLabel] | None = None,
                temperature: float = 1.0) -> datasets.Dataset:
    """One dataset row per (statement, labelled target) plus one per labelled sentiment.

    With ``soft`` (record id -> teacher soft label), each row also carries the teacher's
    distribution re-tempered by ``temperature`` (zeros where the teacher gave none), and a
    record without gold sentiment still gives a sentiment row, taught by the teacher alone.
    A perturbed copy (standpoint/augment.py) has no gold label: the teacher alone teaches it.
    """
    cols: dict[str, list] = {"input_ids": [], "token_type_ids": [], "task_ids": [], "labels": [], "length": []}
    if soft is not None:
        cols["soft_labels"] = []
    none = [0.0] * 3
    text_ids = encoder.token_ids([r.text for r in data.records])
    for rec, ids in zip(data.records, text_ids):
        teacher = soft.get(rec.id) if soft is not None else None
        items: list[tuple[EncodedRow, int, int, list[float]]] = []
        if rec.sentiment is not None or (teacher and teacher.sentiment):
            gold = SENTIMENT_ID[rec.sentiment] if rec.sentiment is not None else IGNORE
            taught = sharpen(teacher.sentiment, temperature) if teacher and teacher.sentiment else none
            items.append((encoder.sentiment_row(ids), SENTIMENT_TASK, gold, taught))
        for tid, label in rec.stances.items():
            taught = sharpen(teacher.stances[tid], temperature) if teacher and tid in teacher.stances else none
            gold = IGNORE if is_augmented(rec) else STANCE_ID[label]
            items.append((encoder.stance_row(data.targets[tid], ids), STANCE_TASK, gold, taught))
        for row, task, label, taught in items:
            cols["input_ids"].append(row.input_ids)
            cols["token_type_ids"].append(row.token_type_ids or [])
            cols["task_ids"].append(task)
            cols["labels"].append(label)
            cols["length"].append(len(row.input_ids))
            if soft is not None:
                cols["soft_labels"].append(taught)
    return datasets.Dataset.from_dict(cols)


class RowCollator:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        rows = [EncodedRow(f["input_ids"], f["token_type_ids"] or None, False) for f in features]
        batch = pad_rows(rows, self.pad_id)
        batch["task_ids"] = torch.tensor([f["task_ids"] for f in features])
        batch["labels"] = torch.tensor([f["labels"] for f in features])
        if "soft_labels" in features[0]:
            batch["soft_labels"] = torch.tensor([f["soft_labels"] for f in features], dtype=torch.float)
        return batch


def compute_metrics(pred) -> dict[str, float]:
    """Validation metrics over rows: stance macro-F1 and F_avg, sentiment macro-F1, their mean."""
    stance_logits, sentiment_logits = pred.predictions
    labels, tasks = pred.label_ids
    out: dict[str, float] = {}
    st = (tasks == STANCE_TASK) & (labels != IGNORE)
    if st.any():
        gold = [STANCE_LABELS[i] for i in labels[st]]
        guess = [STANCE_LABELS[i] for i in stance_logits[st].argmax(-1)]
        scores = stance_scores(gold, guess)
        out["stance_macro_f1"] = scores["macro_f1"]
        out["stance_f_avg"] = official_f_avg(gold, guess)
    se = (tasks == SENTIMENT_TASK) & (labels != IGNORE)
    if se.any():
        gold = [SENTIMENT_LABELS[i] for i in labels[se]]
        guess = [SENTIMENT_LABELS[i] for i in sentiment_logits[se].argmax(-1)]
        out["sentiment_macro_f1"] = sentiment_scores(gold, guess)["macro_f1"]
    parts = [out[k] for k in ("stance_macro_f1", "sentiment_macro_f1") if k in out]
    out["score"] = sum(parts) / len(parts)
    return out


def calibrate(out) -> dict:
    """Fit one temperature per head on validation logits (``Trainer.predict`` output); the
    Predictor divides logits by it."""
    stance_logits, sentiment_logits = out.predictions
    labels, tasks = out.label_ids
    result = {}
    for head, task, logits in (("stance", STANCE_TASK, stance_logits), ("sentiment", SENTIMENT_TASK, sentiment_logits)):
        rows = (tasks == task) & (labels != IGNORE)
        if rows.sum() < 2:
            result[head] = {"temperature": 1.0, "rows": int(rows.sum())}
            continue
        t = fit_temperature(logits[rows], labels[rows])
        result[head] = {"temperature": round(t, 4), "rows": int(rows.sum()),
                        "nll_before": round(nll(logits[rows], labels[rows]), 4),
                        "nll_after": round(nll(logits[rows], labels[rows], t), 4)}
    log.info("temperature scaling on validation: %s", result)
    return result


def native_bf16() -> bool:
    """Whether this machine runs bf16 matmuls natively: a bf16 GPU, or a CPU with AVX512-BF16 or
    AMX. Elsewhere bf16 autocast is emulated and slower than fp32."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes
        return False


def train(config: TrainConfig, output: str | Path, workdir: str | Path | None = None) -> Path:
    """Train, pick the best checkpoint on validation, save a model folder to ``output``."""
    model, tokenizer, metadata = fit(config, Path(output).parent / (Path(output).name + ".checkpoints")
                                     if workdir is None else workdir)
    output = Path(output)
    if output.exists():
        shutil.rmtree(output)
    save_model_folder(model, tokenizer, output, metadata)
    log.info("saved %s in %.0fs: validation %s", output, metadata["train_seconds"], metadata["validation_metrics"])
    return output


def fit(config: TrainConfig, workdir: str | Path):
    """Train in ``workdir`` (removed afterwards); return (best model, tokenizer, metadata)."""
    started = time.time()
    set_seed(config.seed)
    torch.manual_seed(config.seed)
    targets_file = repo_path(config.targets_file)
    train_set, val_set = split_sets(config, targets_file)
    all_targets = {**train_set.targets, **val_set.targets}
    log.info("train %d records, validation %d records, targets %s",
             len(train_set.records), len(val_set.records), sorted(all_targets))

    default_targets = config.default_targets or sorted(all_targets)
    missing = [t for t in default_targets if t not in all_targets]
    if missing:
        raise ConfigError(f"default_targets {missing} are not among the trained targets {sorted(all_targets)}")
    encoder_path = resolve_encoder(config.base_encoder)
    soft = load_for_config(config, targets_file) if config.soft_labels else None
    model, tokenizer = build_model(encoder_path, dropout=config.dropout, sentiment_weight=config.sentiment_weight)
    model.distill_weight, model.distill_temperature = config.distill_weight, config.distill_temperature
    row_encoder = RowEncoder(tokenizer, config.max_length)
    train_rows = encode_rows(train_set, row_encoder, soft, config.distill_temperature)
    val_rows = encode_rows(val_set, row_encoder)
    if soft is not None:
        log.info("distillation: %d training rows carry teacher soft labels (weight %.2f, T %.1f)",
                 sum(1 for p in train_rows["soft_labels"] if any(p)), config.distill_weight,
                 config.distill_temperature)
    if not any(t == STANCE_TASK for t in val_rows["task_ids"]):
        raise ValueError("validation data has no labelled stance; give 'validation' specs with stance labels")

    bf16 = config.bf16 and native_bf16()
    if config.bf16 and not bf16:
        log.warning("bf16 requested, but this machine has no native bf16 (AVX512-BF16/AMX CPU or bf16 GPU): "
                    "training in fp32, about twice as slow")
    workdir = Path(workdir)
    args = TrainingArguments(
        output_dir=str(workdir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_ratio=config.warmup_ratio,
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model=config.select_metric,
        greater_is_better=True,
        group_by_length=True,
        length_column_name="length",
        remove_unused_columns=False,
        label_names=["labels", "task_ids"],
        logging_steps=config.logging_steps,
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        save_safetensors=True,
        disable_tqdm=False,
        bf16=bf16,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=val_rows,
                      data_collator=RowCollator(tokenizer.pad_token_id), compute_metrics=compute_metrics)
    trainer.train()
    # one pass over validation with the best checkpoint: its metrics and its logits for calibration,
    # in fp32 as served (on a CPU the Trainer's bf16 autocast is switched off for this pass)
    trainer.use_cpu_amp = False
    validation = trainer.predict(val_rows, metric_key_prefix="eval")
    best, calibration = validation.metrics, calibrate(validation)
    train_seconds = time.time() - started

    metadata = {
        "name": config.name,
        "stance_labels": list(STANCE_LABELS),
        "sentiment_labels": list(SENTIMENT_LABELS),
        "base_encoder": config.base_encoder,
        "max_length": config.max_length,
        "targets": all_targets,
        "default_targets": default_targets,
        "training_config": config.to_dict(),
        "train_data": {"name": train_set.name, "records": len(train_set.records), "rows": len(train_rows)},
        "validation_data": {"name": val_set.name, "records": len(val_set.records), "rows": len(val_rows)},
        "validation_metrics": {k.removeprefix("eval_"): v for k, v in best.items()
                               if isinstance(v, (int, float))},
        "temperature": {head: c["temperature"] for head, c in calibration.items()},
        "calibration": calibration,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "train_seconds": round(train_seconds, 1),
        "precision": "bf16-mixed" if bf16 else "fp32",
    }
    shutil.rmtree(workdir, ignore_errors=True)
    model.eval()
    return model, tokenizer, metadata
