"""Model inputs for preference pairs: each pair's two edits, each scored by both heads.

Rows are ordered edit by edit and head by head within an edit (the scorer's order), edits pair by
pair, the first edit before the second; `by_pair` turns the model's [rows, 2] output into
[pairs, 2 edits, 2 heads, (mu, log sigma)].
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from judge.editreward.base_folder import BaseFolder
from judge.editreward.edits import EditToScore
from judge.editreward.inputs import InputBuilder, ModelInputs
from judge.editreward.prompts import HEADS

from .data import PreferencePair, open_image

ALL_HEADS = tuple(range(len(HEADS)))


class CachedInputBuilder(InputBuilder):
    """The scorer's InputBuilder, remembering each row's token ids (the chat template is slow to render)."""

    def __init__(self, base: BaseFolder, cache_size: int = 65536) -> None:
        super().__init__(base)
        self._row_ids = lru_cache(maxsize=cache_size)(self._uncached_row_ids)

    def _uncached_row_ids(
        self, head: int, instruction: str, image_tokens: tuple[int, ...]
    ) -> tuple[int, ...]:
        return tuple(super().row_ids(head, instruction, image_tokens))

    def row_ids(self, head: int, instruction: str, image_tokens: Sequence[int]) -> list[int]:
        return list(self._row_ids(head, instruction, tuple(image_tokens)))


def pair_edits(pairs: Sequence[PreferencePair]) -> list[EditToScore]:
    edits = []
    for pair in pairs:
        source = open_image(pair.source)
        edits += [EditToScore(source, open_image(pair.first), pair.instruction)]
        edits += [EditToScore(source, open_image(pair.second), pair.instruction)]
    return edits


def pair_inputs(builder: InputBuilder, pairs: Sequence[PreferencePair]) -> ModelInputs:
    return builder.build(pair_edits(pairs), ALL_HEADS)


def by_pair(outputs: torch.Tensor, pairs: int) -> torch.Tensor:
    return outputs.view(pairs, 2, len(ALL_HEADS), 2)
