"""Which extra data sets help?  standpoint ablate --config BASE.yaml --add SPEC [SPEC ...] --out DIR

Trains the base config, then the base with each added train spec, all picked and scored on the
base's own validation rows (the added sets never reach validation), and prints a table of the
validation metrics with their difference from the base. Test splits are refused as in training.
A finished variant whose saved config matches is reused, so an interrupted ablation resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from model.folder import METADATA, read_metadata

from .config import ConfigError, TrainConfig
from .train import train

log = logging.getLogger("standpoint.ablate")
METRICS = ("stance_macro_f1", "stance_f_avg", "sentiment_macro_f1", "score")


def variants(base: TrainConfig, additions: list[str], epochs: float | None = None) -> dict[str, TrainConfig]:
    """``{"base": base, "+spec": base with spec added to train, ...}`` (a new epochs count for all)."""
    if epochs is not None:
        base = dataclasses.replace(base, epochs=epochs)
    twice = sorted({s for s in additions if s in base.train or additions.count(s) > 1})
    if twice:
        raise ConfigError(f"--add {twice}: already trained on by the base config, or named twice")
    scored = sorted(s for s in additions if s in base.validation)
    if scored:
        raise ConfigError(f"--add {scored}: the base config validates on it; adding it would score on training data")
    # carve_from pins the validation carve to the base's specs, so every variant is picked and
    # scored on the same rows
    carve = base.carve_from or (base.train if base.validation_fraction else [])
    out = {"base": base}
    for spec in additions:
        out[f"+{spec}"] = dataclasses.replace(base, train=[*base.train, spec], carve_from=list(carve))
    return out


def _slug(name: str) -> str:
    return "base" if name == "base" else "plus-" + Path(name[1:]).stem


def _finished(folder: Path, config: TrainConfig) -> dict | None:
    if not (folder / METADATA).exists():
        return None
    meta = read_metadata(folder)
    return meta if meta.get("training_config") == config.to_dict() else None


def ablate(base: TrainConfig, additions: list[str], out: str | Path, epochs: float | None = None,
           fresh: bool = False) -> dict:
    out = Path(out)
    runs = variants(base, additions, epochs)
    table = {}
    for i, (name, config) in enumerate(runs.items(), 1):
        folder = out / _slug(name)
        meta = None if fresh else _finished(folder, config)
        if meta is None:
            log.info("ablation %d/%d: training %s", i, len(runs), name)
            meta = read_metadata(train(config, folder))
        else:
            log.info("ablation %d/%d: %s already trained with this config, reusing %s", i, len(runs), name, folder)
        v = meta["validation_metrics"]
        table[name] = {"model": str(folder), "train_records": meta["train_data"]["records"],
                       "train_rows": meta["train_data"]["rows"], "train_seconds": meta["train_seconds"],
                       "validation": meta["validation_data"]["name"],
                       **{k: round(v[k], 4) for k in METRICS if k in v}}
    for name, row in table.items():
        row["delta_score"] = round(row["score"] - table["base"]["score"], 4)
    result = {"base_config": base.to_dict(), "epochs": runs["base"].epochs, "variants": table}
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def format_table(result: dict) -> str:
    head = "| variant | train rows | stance macro-F1 | stance F_avg | sentiment macro-F1 | score | vs base | minutes |"
    lines = [head, "|" + "---|" * 8]
    for name, r in result["variants"].items():
        lines.append(f"| {name} | {r['train_rows']} | {r.get('stance_macro_f1', float('nan')):.4f} | "
                     f"{r.get('stance_f_avg', float('nan')):.4f} | {r.get('sentiment_macro_f1', float('nan')):.4f} | "
                     f"{r['score']:.4f} | {r['delta_score']:+.4f} | {r['train_seconds'] / 60:.1f} |")
    return "\n".join(lines)
