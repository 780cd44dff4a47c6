"""The one inference path: CLI, server and evaluation all call ``Predictor.predict``.

Statements and target ids go in; for each statement a sentiment and one stance per target
come out, each a label with its probabilities. Rows are sorted by token length and batched so
that padding stays small, and run under ``torch.inference_mode()`` by the chosen backend
(``model/backends.py``: torch-fp32, torch-int8, onnx-fp32, onnx-int8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch
from tqdm.auto import tqdm

from standpoint.targets import TargetConfigError, load_targets, validate_target

from .backends import DEFAULT_BACKEND, FALLBACK_BACKEND, build_backend, resolve_backend
from .folder import load_model_folder
from .inputs import SENTIMENT_TASK, STANCE_TASK, RowEncoder, pad_rows


@dataclass
class LabelScore:
    label: str
    probability: dict[str, float]

    def to_json(self) -> dict:
        return {"label": self.label, "probability": self.probability}


@dataclass
class StatementPrediction:
    text: str
    sentiment: LabelScore | None
    stances: dict[str, LabelScore]
    truncated: bool = False
    adhoc_targets: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"text": self.text, "sentiment": self.sentiment.to_json() if self.sentiment else None,
                "stances": {t: s.to_json() for t, s in self.stances.items()}, "truncated": self.truncated}


class Predictor:
    """Arguments:
        model_dir: a saved Standpoint model folder.
        targets_file: extra targets (id -> description) on top of those saved with the model;
            this is how a target is added by configuration.
        batch_size: rows per forward pass.
        backend: torch-fp32, torch-int8, onnx-fp32 or onnx-int8 (default: the model folder's
            ``"backend"`` in standpoint.json, else ``model.backends.DEFAULT_BACKEND``; torch-fp32
            for an in-memory model).
    """

    def __init__(self, model_dir: str | Path | None, targets_file: str | Path | None = None, batch_size: int = 32,
                 device: str = "cpu", *, loaded: tuple | None = None, backend: str | None = None):
        self.model, self.tokenizer, self.metadata = loaded if loaded is not None else load_model_folder(model_dir)
        self.model.eval()
        self.model.to(device)
        self.device = device
        self.batch_size = batch_size
        self.stance_labels = list(self.metadata["stance_labels"])
        self.sentiment_labels = list(self.metadata["sentiment_labels"])
        self.default_targets = list(self.metadata.get("default_targets") or self.metadata["targets"])
        self.targets: dict[str, str] = dict(self.metadata["targets"])
        if targets_file is not None:
            for tid, desc in load_targets(targets_file).items():
                self.targets.setdefault(tid, desc)
        self.encoder = RowEncoder(self.tokenizer, int(self.metadata["max_length"]))
        temps = self.metadata.get("temperature", {})
        self.temperature = {"stance": float(temps.get("stance", 1.0)), "sentiment": float(temps.get("sentiment", 1.0))}
        # An in-memory model (mid-training) defaults to eager fp32: nothing to export or quantize.
        name, explicit = resolve_backend(backend, self.metadata, device,
                                         default=FALLBACK_BACKEND if loaded is not None else DEFAULT_BACKEND)
        inputs = ["input_ids", "attention_mask"] + (
            ["token_type_ids"] if "token_type_ids" in self.tokenizer.model_input_names else [])
        self.backend = build_backend(name, self.model, model_dir=model_dir, input_names=inputs, explicit=explicit)

    @classmethod
    def from_model(cls, model, tokenizer, metadata: dict, **kwargs) -> "Predictor":
        """A predictor over an in-memory model (e.g. right after training, before saving)."""
        return cls(None, loaded=(model, tokenizer, metadata), **kwargs)

    @property
    def name(self) -> str:
        return self.metadata["name"]

    @property
    def version(self) -> str:
        return self.metadata["version"]

    def resolve_targets(self, targets: Sequence[str] | None = None,
                        adhoc: Mapping[str, str] | None = None) -> dict[str, str]:
        """Target id -> description for the request; unknown ids raise with the known list."""
        ids = list(targets) if targets else list(self.default_targets)
        unknown = [t for t in ids if t not in self.targets and not (adhoc and t in adhoc)]
        if unknown:
            raise TargetConfigError(f"unknown target id(s) {unknown}; known: {', '.join(sorted(self.targets))}")
        chosen = {t: (adhoc[t] if adhoc and t in adhoc else self.targets[t]) for t in ids}
        for tid, desc in (adhoc or {}).items():
            tid, desc = validate_target(tid, desc, where="ad-hoc target")
            chosen[tid] = desc
        return chosen

    def predict(self, texts: Sequence[str], targets: Sequence[str] | None = None,
                adhoc: Mapping[str, str] | None = None, progress: bool = False) -> list[StatementPrediction]:
        """Every statement against the same targets (default: the model's default targets)."""
        chosen = self.resolve_targets(targets, adhoc)
        preds = self.predict_each(texts, [chosen] * len(texts), progress=progress)
        if adhoc:
            for p in preds:
                p.adhoc_targets = sorted(adhoc)
        return preds

    def predict_each(self, texts: Sequence[str], targets: Sequence[Mapping[str, str]],
                     sentiment: bool = True, progress: bool = False) -> list[StatementPrediction]:
        """Each statement against its own targets (id -> description), batched together.

        With ``sentiment=False`` the sentiment rows are skipped and ``sentiment`` is None.
        """
        texts = list(texts)
        if len(targets) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(targets)} target sets")
        text_ids = self.encoder.token_ids(texts) if texts else []
        rows, owners = [], []  # owners[k] = (statement index, target id or None for sentiment)
        for i, ids in enumerate(text_ids):
            if sentiment:
                rows.append(self.encoder.sentiment_row(ids))
                owners.append((i, None))
            for tid, desc in targets[i].items():
                rows.append(self.encoder.stance_row(desc, ids))
                owners.append((i, tid))
        tasks = [SENTIMENT_TASK if t is None else STANCE_TASK for _, t in owners]
        probs = self._run(rows, tasks, progress) if rows else []

        truncated = [False] * len(texts)
        sentiments: list[LabelScore | None] = [None] * len(texts)
        stances: list[dict[str, LabelScore]] = [{} for _ in texts]
        for (i, tid), row, p in zip(owners, rows, probs):
            truncated[i] = truncated[i] or row.truncated
            if tid is None:
                sentiments[i] = self._score(p, self.sentiment_labels)
            else:
                stances[i][tid] = self._score(p, self.stance_labels)
        return [StatementPrediction(text=texts[i], sentiment=sentiments[i], stances=stances[i],
                                    truncated=truncated[i]) for i in range(len(texts))]

    @staticmethod
    def _score(p: list[float], labels: list[str]) -> LabelScore:
        best = max(range(len(labels)), key=p.__getitem__)
        return LabelScore(labels[best], {label: round(float(x), 6) for label, x in zip(labels, p)})

    @torch.inference_mode()
    def _run(self, rows, tasks, progress: bool) -> list[list[float]]:
        order = sorted(range(len(rows)), key=lambda k: len(rows[k].input_ids))
        out: list[list[float] | None] = [None] * len(rows)
        pad_id = self.tokenizer.pad_token_id
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        for batch in tqdm(batches, desc="predict", unit="batch", disable=not progress):
            enc = {k: v.to(self.device) for k, v in pad_rows([rows[k] for k in batch], pad_id).items()}
            stance_logits, sentiment_logits = self.backend.logits(enc)
            task = torch.tensor([tasks[k] for k in batch], device=self.device)
            stance = torch.softmax(stance_logits / self.temperature["stance"], -1)
            senti = torch.softmax(sentiment_logits / self.temperature["sentiment"], -1)
            probs = torch.where((task == STANCE_TASK).unsqueeze(-1), stance, senti).tolist()
            for k, p in zip(batch, probs):
                out[k] = p
        return out
