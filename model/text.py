"""Tokenization shared by sampling and training, so both pad and truncate prompts the same way."""

from __future__ import annotations

import torch
from transformers import CLIPTokenizer


def tokenize(tokenizer: CLIPTokenizer, texts: str | list[str]) -> torch.Tensor:
    """Token ids (N, 77): padded and truncated to the tokenizer's model_max_length, as SD encodes prompts."""
    return tokenizer(
        [texts] if isinstance(texts, str) else texts,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
