"""Manifest rows as training tensors: paired crop/flip of source and edited image, tokenized texts."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset
from transformers import CLIPTokenizer

from model import InvalidInputError, Rewards
from model.image import image_to_tensor, load_image
from model.text import tokenize

from .manifest import ManifestError, ManifestRow
from .seeding import AUGMENTATION, derive_seed

# What the reward condition is built from when a row has no rewards; the null reward replaces it.
PLACEHOLDER_REWARDS = Rewards()


@dataclass(frozen=True)
class Augmentation:
    resolution: int
    random_flip: bool = True
    center_crop: bool = False


class ManifestDataset(Dataset):
    """Items are keyed by (row index, stream position): the position seeds that item's crop and flip.

    Seeding augmentation from the position in the sample stream, not from a stateful generator,
    makes every batch reproducible from the position alone, which is what resuming relies on.
    """

    def __init__(
        self,
        rows: list[ManifestRow],
        tokenizer: CLIPTokenizer,
        augmentation: Augmentation,
        seed: int,
        reward_prompt: Callable[[Rewards], str],
        encoded: Container[int] = (),
    ) -> None:
        """`reward_prompt`: the checkpoint's reward text format (`RewardCondition.prompt`).

        `encoded`: rows whose encodings are cached (a live view): their pixels are never read.
        """
        self.rows = rows
        self.tokenizer = tokenizer
        self.reward_prompt = reward_prompt
        self.augmentation = augmentation
        self.seed = seed
        self.encoded = encoded
        # Tokenizing was about 40% of an item's cost; instructions and reward prompts repeat.
        self._token_ids: dict[str, torch.Tensor] = {}
        self._masks: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def all_labelled(self) -> bool:
        return all(row.rewards is not None for row in self.rows)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, position = key
        row = self.rows[index]
        side = self.augmentation.resolution
        if index in self.encoded:
            # Cached rows need no pixels: decoding them set a GPU run's pace. Blank, same shape.
            source = edited = torch.zeros(3, side, side)
            mask = self._cached_mask(index)
        else:
            rng = np.random.default_rng(derive_seed(self.seed, AUGMENTATION, position))
            images = [_open(row, "source"), _open(row, "edited")]
            images += [_open(row, "mask", "L")] if row.mask is not None else []
            images = paired_crop_flip(images, self.augmentation, rng)
            source, edited = (image_to_tensor(image)[0] for image in images[:2])
            mask = _mask_tensor(images[2:], side)
        rewards = row.rewards or PLACEHOLDER_REWARDS
        return {
            "source": source,
            "edited": edited,
            "mask": mask,
            "has_mask": torch.tensor(row.mask is not None),
            "input_ids": self.tokenize(row.instruction),
            "reward_ids": self.tokenize(self.reward_prompt(rewards)),
            "scores": torch.tensor(rewards.scores, dtype=torch.float32),
            "has_reward": torch.tensor(row.rewards is not None),
            "index": torch.tensor(index),  # the key of the row's cached encodings
        }

    def _cached_mask(self, index: int) -> torch.Tensor:
        """A cached row's mask, decoded once: caching implies fixed crops, so it is the same every step."""
        row = self.rows[index]
        if row.mask is None:  # zeros are not worth keeping per row
            return _mask_tensor([], self.augmentation.resolution)
        if index not in self._masks:
            rng = np.random.default_rng(0)  # fixed crops draw nothing
            masks = paired_crop_flip([_open(row, "mask", "L")], self.augmentation, rng)
            self._masks[index] = _mask_tensor(masks, self.augmentation.resolution)
        return self._masks[index]

    def tokenize(self, text: str) -> torch.Tensor:
        """Token ids padded/truncated to the text encoder's 77 positions, as the pipeline encodes them."""
        if text not in self._token_ids:
            self._token_ids[text] = tokenize(self.tokenizer, text)[0]
        return self._token_ids[text]


def paired_crop_flip(
    images: Sequence[Image.Image], augmentation: Augmentation, rng: np.random.Generator
) -> list[Image.Image]:
    """Resize all to the first's shape with the short side at `resolution`, then crop and flip them alike.

    Identical geometry matters: the model learns which pixels the edit changes, so any offset
    between the source and the edited image (or its mask) would teach it to shift the whole image.
    """
    side = augmentation.resolution
    width, height = images[0].size
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    if augmentation.center_crop:
        left, top = (size[0] - side) // 2, (size[1] - side) // 2
    else:
        left, top = int(rng.integers(size[0] - side + 1)), int(rng.integers(size[1] - side + 1))
    box = (left, top, left + side, top + side)
    images = [image.resize(size, Image.Resampling.BICUBIC).crop(box) for image in images]
    if augmentation.random_flip and rng.random() < 0.5:
        images = [image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for image in images]
    return images


def _mask_tensor(masks: list[Image.Image], side: int) -> torch.Tensor:
    """(1, side, side) in [0, 1] from a cropped mask, or zeros (has_mask false) when there is none."""
    if not masks:
        return torch.zeros(1, side, side)
    return torch.from_numpy(np.asarray(masks[0], dtype=np.float32) / 255.0)[None]


def _open(row: ManifestRow, key: str, mode: str = "RGB") -> Image.Image:
    try:
        image = load_image(getattr(row, key))
    except InvalidInputError as exc:
        raise ManifestError(f"manifest line {row.line} (id {row.id!r}): {exc}") from exc
    return ImageOps.exif_transpose(image).convert(mode)
