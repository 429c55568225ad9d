"""Scene -> pixels, exactly: no anti-aliasing, so a ground-truth image is a pure function of its scene."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .scene import Background, Scene, Shape
from .vocabulary import COLOURS

SHADE = 0.55  # texture pixels are the object's colour times this
PIXEL_BLOCK = 8
OUTLINE_RGB = (20, 20, 20)


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width]
    return yy, xx


def shape_mask(shape: Shape, height: int, width: int) -> np.ndarray:
    """Boolean (H, W) mask of the pixels the shape covers."""
    yy, xx = grid(height, width)
    dx, dy, s = np.abs(xx - shape.x), yy - shape.y, shape.size
    ady = np.abs(dy)
    masks = {
        "square": (dx <= s) & (ady <= s),
        "circle": dx**2 + dy**2 <= s * (s + 1),
        "triangle": (ady <= s) & (2 * dx <= dy + s),
        "diamond": dx + ady <= s,
        "cross": ((3 * dx <= s) & (ady <= s)) | ((3 * ady <= s) & (dx <= s)),
    }
    return masks[shape.kind]


def texture_mask(texture: str, height: int, width: int) -> np.ndarray:
    """Where a texture draws its shade; all False for "solid"."""
    yy, xx = grid(height, width)
    patterns = {
        "solid": np.zeros((height, width), dtype=bool),
        "striped": ((xx + yy) // 3) % 2 == 0,
        "dotted": (xx % 5 < 2) & (yy % 5 < 2),
        "checkered": (xx // 4 + yy // 4) % 2 == 0,
    }
    return patterns[texture]


def pattern_mask(pattern: str, height: int, width: int) -> np.ndarray:
    """Where a background pattern draws its accent colour; all False for "plain"."""
    yy, xx = grid(height, width)
    patterns = {
        "plain": np.zeros((height, width), dtype=bool),
        "stripes": (yy // 4) % 2 == 0,
        "checks": (xx // 8 + yy // 8) % 2 == 0,
        "dots": (xx % 8 < 3) & (yy % 8 < 3),
    }
    return patterns[pattern]


def rgb(name: str) -> np.ndarray:
    return np.array(COLOURS[name], dtype=np.float64)


def paint_background(background: Background, height: int, width: int) -> np.ndarray:
    canvas = np.empty((height, width, 3))
    canvas[:] = rgb(background.colour)
    canvas[pattern_mask(background.pattern, height, width)] = rgb(background.accent)
    return canvas


def background_mask(scene: Scene) -> np.ndarray:
    """Pixels no shape covers: what a background edit may change."""
    covered = np.zeros((scene.height, scene.width), dtype=bool)
    for shape in scene.shapes:
        covered |= shape_mask(shape, scene.height, scene.width)
    return ~covered


def outline(masks: list[np.ndarray]) -> np.ndarray:
    """Pixels of each mask that touch a pixel outside it (4-neighbourhood)."""
    edge = np.zeros_like(masks[0]) if masks else np.zeros((0, 0), dtype=bool)
    for mask in masks:
        padded = np.pad(mask, 1, constant_values=False)
        interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        edge |= mask & ~interior
    return edge


def apply_style(canvas: np.ndarray, scene: Scene, masks: list[np.ndarray]) -> np.ndarray:
    if scene.style == "outline" and masks:
        canvas[outline(masks)] = OUTLINE_RGB
    elif scene.style == "pixelate":
        h, w = canvas.shape[:2]
        b = PIXEL_BLOCK
        blocks = canvas[: h // b * b, : w // b * b].reshape(h // b, b, w // b, b, 3).mean(axis=(1, 3))
        canvas[: h // b * b, : w // b * b] = np.repeat(np.repeat(blocks, b, axis=0), b, axis=1)
    elif scene.style == "posterize":
        canvas = np.where(canvas >= 128, 224.0, 32.0)
    return canvas


def apply_filter(canvas: np.ndarray, name: str) -> np.ndarray:
    if name == "invert":
        return 255.0 - canvas
    if name == "darker":
        return canvas * 0.55
    if name == "warm":
        return canvas + np.array([45.0, 10.0, -45.0])
    if name == "grayscale":
        return (canvas @ np.array([0.299, 0.587, 0.114]))[..., None].repeat(3, axis=-1)
    return canvas


def render_array(scene: Scene) -> np.ndarray:
    """The scene as a uint8 (H, W, 3) array: background, shapes in order, style, then filter."""
    h, w = scene.height, scene.width
    canvas = paint_background(scene.background, h, w)
    masks = []
    for shape in scene.shapes:
        mask = shape_mask(shape, h, w)
        canvas[mask] = rgb(shape.colour)
        canvas[mask & texture_mask(shape.texture, h, w)] = rgb(shape.colour) * SHADE
        masks.append(mask)
    canvas = apply_filter(apply_style(canvas, scene, masks), scene.filter)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def render(scene: Scene) -> Image.Image:
    return Image.fromarray(render_array(scene))
