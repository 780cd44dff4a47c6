"""Encoder + two heads, and the masked multi-task loss (with optional distillation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .inputs import SENTIMENT_TASK, STANCE_TASK

IGNORE = -100


class StanceSentimentModel(nn.Module):
    """Mean-pooled encoder; ``stance_head`` reads (target, text) rows, ``sentiment_head`` text rows.

    Each row in a batch carries a task id; the loss of a head only sees its own rows, and
    rows whose label is IGNORE (unlabelled) are masked out.
    """

    def __init__(self, encoder: nn.Module, dropout: float = 0.1, sentiment_weight: float = 1.0,
                 num_stance: int = 3, num_sentiment: int = 3):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.stance_head = nn.Linear(hidden, num_stance)
        self.sentiment_head = nn.Linear(hidden, num_sentiment)
        self.sentiment_weight = sentiment_weight
        # distillation settings, set by training; 0 weight means gold loss only
        self.distill_weight = 0.0
        self.distill_temperature = 1.0

    def pooled(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def forward(self, input_ids, attention_mask, token_type_ids=None, task_ids=None, labels=None,
                soft_labels=None):
        pooled = self.dropout(self.pooled(input_ids, attention_mask, token_type_ids))
        out = {"stance_logits": self.stance_head(pooled), "sentiment_logits": self.sentiment_head(pooled)}
        if labels is not None and task_ids is not None:
            out["loss"] = multitask_loss(
                out["stance_logits"], out["sentiment_logits"], task_ids, labels, soft_labels,
                sentiment_weight=self.sentiment_weight, distill_weight=self.distill_weight,
                temperature=self.distill_temperature)
        return out


def _head_loss(logits, labels, soft, distill_weight, temperature):
    gold_rows = labels != IGNORE
    loss = logits.new_zeros(())
    if gold_rows.any():
        loss = F.cross_entropy(logits[gold_rows], labels[gold_rows])
    if soft is not None and distill_weight > 0:
        soft_rows = soft.sum(-1) > 0
        if soft_rows.any():
            log_p = F.log_softmax(logits[soft_rows] / temperature, dim=-1)
            kl = F.kl_div(log_p, soft[soft_rows], reduction="batchmean") * temperature ** 2
            loss = (1 - distill_weight) * loss + distill_weight * kl if gold_rows.any() else kl
    return loss


def multitask_loss(stance_logits, sentiment_logits, task_ids, labels, soft_labels=None, *,
                   sentiment_weight=1.0, distill_weight=0.0, temperature=1.0) -> torch.Tensor:
    """Cross-entropy per head over its own labelled rows; optional KL to soft labels.

    With ``distill_weight == 0`` this is exactly the gold multi-task loss.
    """
    total = stance_logits.new_zeros(())
    for task, logits, weight in ((STANCE_TASK, stance_logits, 1.0),
                                 (SENTIMENT_TASK, sentiment_logits, sentiment_weight)):
        rows = task_ids == task
        if not rows.any():
            continue
        soft = soft_labels[rows] if soft_labels is not None else None
        total = total + weight * _head_loss(logits[rows], labels[rows], soft, distill_weight, temperature)
    return total
