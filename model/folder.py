"""A saved model is one self-contained folder that reloads offline:

    encoder/              save_pretrained weights and config of the fine-tuned encoder
    tokenizer/            save_pretrained tokenizer
    heads.safetensors     stance and sentiment heads
    standpoint.json       metadata: labels, targets, max length, base encoder,
                          training config, validation metrics, temperatures
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoTokenizer

from standpoint.records import SENTIMENT_LABELS, STANCE_LABELS

from .modeling import StanceSentimentModel

FORMAT_VERSION = 1
METADATA = "standpoint.json"
REQUIRED_KEYS = ("format_version", "name", "version", "base_encoder", "stance_labels",
                 "sentiment_labels", "targets", "max_length")


class ModelFolderError(ValueError):
    """A model folder that is missing a file or whose files disagree."""


def load_encoder(path: str | Path):
    """The bare encoder; BERT's pooler is left out since the model mean-pools the last layer."""
    extra = {"add_pooling_layer": False} if AutoConfig.from_pretrained(path).model_type in ("bert", "mpnet") else {}
    return AutoModel.from_pretrained(path, local_files_only=True, **extra)


def build_model(encoder_path: str | Path, dropout: float = 0.1, sentiment_weight: float = 1.0):
    encoder = load_encoder(encoder_path)
    tokenizer = AutoTokenizer.from_pretrained(encoder_path, local_files_only=True)
    return StanceSentimentModel(encoder, dropout=dropout, sentiment_weight=sentiment_weight), tokenizer


def save_model_folder(model: StanceSentimentModel, tokenizer, out_dir: str | Path, metadata: dict) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(out / "encoder", safe_serialization=True)
    tokenizer.save_pretrained(out / "tokenizer")
    heads = {f"stance_head.{k}": v.detach().contiguous().cpu() for k, v in model.stance_head.state_dict().items()}
    heads.update({f"sentiment_head.{k}": v.detach().contiguous().cpu()
                  for k, v in model.sentiment_head.state_dict().items()})
    save_file(heads, out / "heads.safetensors")
    digest = hashlib.sha256((out / "heads.safetensors").read_bytes()).hexdigest()[:8]
    meta = {
        "format_version": FORMAT_VERSION,
        "stance_labels": list(STANCE_LABELS),
        "sentiment_labels": list(SENTIMENT_LABELS),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **metadata,
    }
    meta.setdefault("temperature", {"stance": 1.0, "sentiment": 1.0})
    meta.setdefault("version", time.strftime("%Y%m%d", time.gmtime()) + "-" + digest)
    (out / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def read_metadata(model_dir: str | Path) -> dict:
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: model folder not found (train one with `standpoint train`)")
    path = folder / METADATA
    if not path.is_file():
        raise ModelFolderError(f"{folder}: no {METADATA}; not a Standpoint model folder")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelFolderError(f"{path}: missing keys {missing}")
    if meta["format_version"] != FORMAT_VERSION:
        raise ModelFolderError(f"{path}: format_version {meta['format_version']}, this code reads {FORMAT_VERSION}")
    if list(meta["stance_labels"]) != list(STANCE_LABELS) or list(meta["sentiment_labels"]) != list(SENTIMENT_LABELS):
        raise ModelFolderError(f"{path}: labels {meta['stance_labels']}/{meta['sentiment_labels']} "
                               f"differ from the contract's {STANCE_LABELS}/{SENTIMENT_LABELS}")
    return meta


def load_model_folder(model_dir: str | Path) -> tuple[StanceSentimentModel, object, dict]:
    """Reload (model in eval mode, tokenizer, metadata); every failure is a ModelFolderError."""
    folder = Path(model_dir)
    meta = read_metadata(folder)
    for needed in ("encoder/config.json", "encoder/model.safetensors", "heads.safetensors", "tokenizer"):
        if not (folder / needed).exists():
            raise ModelFolderError(f"{folder}: missing {needed}; the folder is incomplete, retrain or copy it whole")
    try:
        encoder = load_encoder(folder / "encoder")
        tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{folder}: cannot load encoder/tokenizer: {exc}") from None
    model = StanceSentimentModel(encoder)
    heads = load_file(folder / "heads.safetensors")
    hidden = encoder.config.hidden_size
    for name, expect in (("stance_head.weight", (len(STANCE_LABELS), hidden)),
                         ("sentiment_head.weight", (len(SENTIMENT_LABELS), hidden))):
        if name not in heads or tuple(heads[name].shape) != expect:
            got = tuple(heads[name].shape) if name in heads else None
            raise ModelFolderError(f"{folder}/heads.safetensors: {name} has shape {got}, "
                                   f"expected {expect} for encoder hidden size {hidden}")
    model.stance_head.load_state_dict({k.split(".", 1)[1]: v for k, v in heads.items() if k.startswith("stance_head.")})
    model.sentiment_head.load_state_dict({k.split(".", 1)[1]: v for k, v in heads.items()
                                          if k.startswith("sentiment_head.")})
    if tokenizer.vocab_size > encoder.config.vocab_size:
        raise ModelFolderError(f"{folder}: tokenizer vocabulary ({tokenizer.vocab_size}) is larger than "
                               f"the encoder's ({encoder.config.vocab_size}); files come from different models")
    model.eval()
    return model, tokenizer, meta
