"""Input image preparation: EXIF orientation, RGB, size limits and the multiple-of-8 rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidInputError

MIN_SIDE = 64
DEFAULT_MAX_SIDE = 512
SIZE_MULTIPLE = 8


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file, turning every decoding failure into InvalidInputError."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"input image {str(path)!r} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy() if img.format != "MPO" else img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {str(path)!r} as an image: {exc}") from exc


def target_size(width: int, height: int, max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """Size after fitting the long side within max_side and flooring both sides to a multiple of 8."""
    if min(width, height) < MIN_SIDE:
        raise InvalidInputError(f"image is {width}x{height}; both sides must be at least {MIN_SIDE} px")
    if max_side < MIN_SIDE:
        raise InvalidInputError(f"max_side must be at least {MIN_SIDE}, got {max_side}")
    scale = min(1.0, max_side / max(width, height))
    w = max(SIZE_MULTIPLE, round(width * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    h = max(SIZE_MULTIPLE, round(height * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    return w, h


def prepare_image(image: Image.Image, max_side: int = DEFAULT_MAX_SIDE) -> Image.Image:
    """EXIF-transposed RGB image resized so the long side <= max_side and both sides are multiples of 8."""
    if not isinstance(image, Image.Image):
        raise InvalidInputError(f"image must be a PIL.Image, got {type(image).__name__}")
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            # Composite on white: transparent pixels have undefined colour values.
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba).convert("RGB")
        elif image.mode.startswith("I"):
            # 16-bit samples span 0-65535 however dark the picture; 32-bit "I" has no fixed range.
            array = np.asarray(image, dtype=np.float64)
            full_scale = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
            array = np.clip(np.round(array / full_scale * 255.0), 0, 255)
            image = Image.fromarray(array.astype(np.uint8)).convert("RGB")
        else:
            image = image.convert("RGB")
    size = target_size(*image.size, max_side=max_side)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor (1, 3, H, W) in [-1, 1]."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0


def tensor_to_images(images: torch.Tensor) -> list[Image.Image]:
    """Decoded VAE output (B, 3, H, W) in [-1, 1] -> PIL images, rounding as diffusers does."""
    array = (images.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray((frame * 255).round().astype(np.uint8)) for frame in array]
