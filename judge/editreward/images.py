"""Images as the released models see them: resized to about 256 x 28 x 28 pixels, then cut into patches.

The release resizes each image with its own `smart_resize` (which can overshoot the pixel budget
for some aspect ratios: kept as is, the models were trained that way) and PIL's bicubic filter;
the processor then finds nothing left to resize, rescales to [0, 1], normalises and groups the
pixels into the vision tower's patches. No torchvision: numpy and PIL only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIZE_FACTOR = 28  # both sides become multiples of this (patch 14 x merge 2)
TARGET_PIXELS = 256 * 28 * 28  # the release's min_pixels = max_pixels
MAX_ASPECT_RATIO = 200
PIXELS_KEY = "editreward_pixels"  # optional preprocessor_config.json entry: another pixel budget


class UnscorableImageError(ValueError):
    """The release cannot score this image (an aspect ratio over 200)."""


def smart_resize(height: int, width: int, target_pixels: int = TARGET_PIXELS) -> tuple[int, int]:
    """(height, width) in multiples of 28, aspect ratio kept, near target_pixels: the release's formula."""
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise UnscorableImageError(f"a {width}x{height} image has an aspect ratio over {MAX_ASPECT_RATIO}")
    # round() is Python's (half to even), as in the release.
    new_height = max(SIZE_FACTOR, round(height / SIZE_FACTOR) * SIZE_FACTOR)
    new_width = max(SIZE_FACTOR, round(width / SIZE_FACTOR) * SIZE_FACTOR)
    if new_height * new_width > target_pixels:
        scale = math.sqrt(height * width / target_pixels)
        new_height = math.floor(height / scale / SIZE_FACTOR) * SIZE_FACTOR
        new_width = math.floor(width / scale / SIZE_FACTOR) * SIZE_FACTOR
    elif new_height * new_width < target_pixels:
        scale = math.sqrt(target_pixels / (height * width))
        new_height = math.ceil(height * scale / SIZE_FACTOR) * SIZE_FACTOR
        new_width = math.ceil(width * scale / SIZE_FACTOR) * SIZE_FACTOR
    return new_height, new_width


@dataclass(frozen=True)
class VisionSettings:
    """The image processor's settings, from the base model folder's preprocessor_config.json."""

    patch_size: int
    temporal_patch_size: int
    merge_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # The release's min_pixels = max_pixels (its training config's, not the base folder's); a base
    # folder may set another with PIXELS_KEY (the small models trained on 64 px images here use 112 x 112).
    pixels: int = TARGET_PIXELS

    def tokens(self, grid: tuple[int, int, int]) -> int:
        """How many `<|image_pad|>` tokens stand for an image of this patch grid."""
        return grid[0] * grid[1] * grid[2] // self.merge_size**2


def patchify(image: Image.Image, settings: VisionSettings) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The vision tower's input for one image: patches (rows of C*T*P*P floats) and the (t, h, w) grid."""
    image = image.convert("RGB")
    height, width = smart_resize(image.height, image.width, settings.pixels)
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    pixels = (pixels - np.asarray(settings.mean, np.float32)) / np.asarray(settings.std, np.float32)
    p, t, m = settings.patch_size, settings.temporal_patch_size, settings.merge_size
    frames = np.repeat(pixels.transpose(2, 0, 1)[None], t, axis=0)  # a still image fills the time patch
    grid_h, grid_w = height // p, width // p
    # Patches are ordered merge window by merge window, so each 2x2 group becomes one LLM token.
    blocks = frames.reshape(1, t, 3, grid_h // m, m, p, grid_w // m, m, p)
    patches = blocks.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(grid_h * grid_w, 3 * t * p * p)
    return np.ascontiguousarray(patches), (1, grid_h, grid_w)
