"""Turning statements into encoder rows, shared by training and the Predictor.

A statement becomes one *sentiment row* (the text alone, so its sentiment cannot depend on
which targets are asked) and one *stance row* per target: the pair (target description, text).
Texts and descriptions are tokenized once; pairs are assembled from the token ids, and only
the text is truncated to fit the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STANCE_TASK, SENTIMENT_TASK = 0, 1


@dataclass
class EncodedRow:
    input_ids: list[int]
    token_type_ids: list[int] | None
    truncated: bool


class RowEncoder:
    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self._single_special = tokenizer.num_special_tokens_to_add(pair=False)
        self._pair_special = tokenizer.num_special_tokens_to_add(pair=True)
        self._uses_token_types = "token_type_ids" in tokenizer.model_input_names
        self._desc_cache: dict[str, list[int]] = {}

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]

    def _description_ids(self, description: str) -> list[int]:
        if description not in self._desc_cache:
            ids = self.token_ids([description])[0]
            self._desc_cache[description] = ids[: self.max_length // 2]
        return self._desc_cache[description]

    def _row(self, first: list[int], second: list[int] | None) -> EncodedRow:
        tok = self.tokenizer
        if second is None:
            budget = self.max_length - self._single_special
            ids = tok.build_inputs_with_special_tokens(first[:budget])
            types = tok.create_token_type_ids_from_sequences(first[:budget]) if self._uses_token_types else None
            return EncodedRow(ids, types, len(first) > budget)
        budget = self.max_length - self._pair_special - len(first)
        ids = tok.build_inputs_with_special_tokens(first, second[:budget])
        types = (tok.create_token_type_ids_from_sequences(first, second[:budget])
                 if self._uses_token_types else None)
        return EncodedRow(ids, types, len(second) > budget)

    def sentiment_row(self, text_ids: list[int]) -> EncodedRow:
        return self._row(text_ids, None)

    def stance_row(self, description: str, text_ids: list[int]) -> EncodedRow:
        return self._row(self._description_ids(description), text_ids)


def pad_rows(rows: list[EncodedRow], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest row of the batch (rows are sorted by length upstream)."""
    width = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    types = torch.zeros((len(rows), width), dtype=torch.long) if rows[0].token_type_ids is not None else None
    for i, r in enumerate(rows):
        n = len(r.input_ids)
        ids[i, :n] = torch.tensor(r.input_ids)
        mask[i, :n] = 1
        if types is not None:
            types[i, :n] = torch.tensor(r.token_type_ids)
    batch = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        batch["token_type_ids"] = types
    return batch
