"""From (source, edited, instruction) to the reward model's input, as the released inferencer builds it.

Per edit and reward head, one row: the chat template's default system turn, then one user turn
holding the source image, the edited image and the head's rubric with the reward prompt, then
the assistant header. Each image placeholder expands to one token per merged 2x2 patch group.
Rows are padded on the right, so a row's tokens up to `<|Reward|>` never see padding: a batch
scores as its items alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers.utils.chat_template_utils import render_jinja_template

from .base_folder import BaseFolder
from .edits import EditToScore, UnscorableEditError
from .images import patchify
from .prompts import head_prompt

IMAGE_PAD = "<|image_pad|>"
TENSORS = ("input_ids", "attention_mask", "reward_positions", "pixel_values", "image_grid_thw")


@dataclass
class ModelInputs:
    """One row per (edit, head); the images of edit i are images 2i (source) and 2i+1 (edited)."""

    input_ids: torch.Tensor  # [rows, length], right-padded
    attention_mask: torch.Tensor  # [rows, length]
    reward_positions: torch.Tensor  # [rows]: where `<|Reward|>` is
    heads: list[int]  # each row's head
    edit_of_row: list[int]
    pixel_values: torch.Tensor  # [patches of every image, C*T*P*P]
    image_grid_thw: torch.Tensor  # [images, 3]

    def to(self, device: torch.device | str) -> ModelInputs:
        moved = {name: getattr(self, name).to(device) for name in TENSORS}
        return ModelInputs(**{**self.__dict__, **moved})


class InputBuilder:
    """Builds ModelInputs with the base folder's tokenizer, chat template and image settings."""

    def __init__(self, base: BaseFolder) -> None:
        self.base = base
        # Text the user controls must not smuggle in tokens that change the input's structure.
        self.reserved = [
            token.content for token in base.tokenizer.get_added_tokens_decoder().values() if token.special
        ]

    def template_text(self, head: int, instruction: str) -> str:
        """The rendered chat, with one image placeholder per image, before expansion."""
        content = [
            {"type": "image"},
            {"type": "image"},
            {"type": "text", "text": head_prompt(head, instruction)},
        ]
        rendered, _ = render_jinja_template(
            [[{"role": "user", "content": content}]],
            chat_template=self.base.chat_template,
            add_generation_prompt=True,
            **self.base.template_tokens,
        )
        return rendered[0]

    def row_ids(self, head: int, instruction: str, image_tokens: Sequence[int]) -> list[int]:
        text = self.template_text(head, instruction)
        pieces = text.split(IMAGE_PAD)
        if len(pieces) != len(image_tokens) + 1:
            raise UnscorableEditError(f"the chat template placed {len(pieces) - 1} images, expected 2")
        expanded = pieces[0] + "".join(
            IMAGE_PAD * n + piece for n, piece in zip(image_tokens, pieces[1:], strict=True)
        )
        return self.base.tokenizer.encode(expanded).ids

    def check_instruction(self, instruction: str) -> None:
        if not instruction.strip():
            raise UnscorableEditError("the instruction is empty")
        for token in self.reserved:
            if token in instruction:
                raise UnscorableEditError(f"the instruction contains the model's special token {token!r}")

    def build(self, edits: Sequence[EditToScore], heads: Sequence[int]) -> ModelInputs:
        """Inputs for every edit x head; UnscorableEditError names the first edit that cannot be scored."""
        patches: list[np.ndarray] = []
        grids: list[tuple[int, int, int]] = []
        rows: list[list[int]] = []
        for edit in edits:
            self.check_instruction(edit.instruction)
            tokens = []
            for image in (edit.source, edit.edited):
                try:
                    values, grid = patchify(image, self.base.vision)
                except ValueError as exc:
                    raise UnscorableEditError(str(exc)) from exc
                patches.append(values)
                grids.append(grid)
                tokens.append(self.base.vision.tokens(grid))
            rows += [self.row_ids(head, edit.instruction, tokens) for head in heads]
        length = max(len(ids) for ids in rows)
        input_ids = torch.full((len(rows), length), self.base.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        for row, ids in enumerate(rows):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
        return ModelInputs(
            input_ids=input_ids,
            attention_mask=attention_mask,
            reward_positions=reward_positions(input_ids, self.base.reward_token_id),
            heads=[head for _ in edits for head in heads],
            edit_of_row=[index for index in range(len(edits)) for _ in heads],
            pixel_values=torch.from_numpy(np.concatenate(patches)),
            image_grid_thw=torch.tensor(grids, dtype=torch.long),
        )


def reward_positions(input_ids: torch.Tensor, reward_token_id: int) -> torch.Tensor:
    """Each row's `<|Reward|>` position; exactly one per row (the instruction is checked for it)."""
    found = input_ids == reward_token_id
    counts = found.sum(dim=1)
    if not torch.all(counts == 1):
        raise UnscorableEditError(f"expected one {reward_token_id} token per row, found {counts.tolist()}")
    return found.int().argmax(dim=1)
