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


def text_mask(ids: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """True for each prompt's own tokens (through its first end-of-text), False for the padding after.

    CLIP pads with the end-of-text token itself, so the first one ends the prompt.
    """
    ends = ids == eos_token_id
    return (ends.long().cumsum(-1) - ends.long()) == 0
