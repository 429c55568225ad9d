"""The page's sample source images, drawn with PIL: `python -m tests.web.samples` rewrites them.

They are committed under api/static/samples/ (the service serves them as they are); a test checks
the committed files still hold these pixels.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

SIDE = 256
FOLDER = Path(__file__).resolve().parents[2] / "api" / "static" / "samples"
Color = tuple[int, int, int]


def gradient(top: Color, bottom: Color, height: int = SIDE) -> Image.Image:
    """A vertical gradient, the sky or water of every sample."""
    image = Image.new("RGB", (SIDE, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(height - 1, 1)
        color = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (SIDE, y)], fill=color)
    return image


def hills() -> Image.Image:
    image = gradient((70, 130, 210), (200, 225, 245))
    draw = ImageDraw.Draw(image)
    draw.ellipse([170, 30, 220, 80], fill=(255, 220, 90))
    for base, amplitude, phase, color in ((150, 18, 0.0, (90, 160, 80)), (185, 14, 2.0, (60, 120, 55))):
        ridge = [(x, base + amplitude * math.sin(x / 40 + phase)) for x in range(0, SIDE + 1, 4)]
        draw.polygon([*ridge, (SIDE, SIDE), (0, SIDE)], fill=color)
    return image


def house() -> Image.Image:
    image = gradient((120, 180, 235), (225, 235, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 190, SIDE, SIDE], fill=(95, 165, 75))
    draw.rectangle([70, 120, 186, 200], fill=(215, 190, 150))
    draw.polygon([(60, 122), (128, 62), (196, 122)], fill=(170, 60, 50))
    draw.rectangle([115, 155, 141, 200], fill=(110, 70, 40))
    for left in (82, 152):
        draw.rectangle([left, 135, left + 22, 157], fill=(170, 210, 240), outline=(255, 255, 255), width=3)
    return image


def fruit() -> Image.Image:
    image = Image.new("RGB", (SIDE, SIDE), (235, 225, 205))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 160, SIDE, SIDE], fill=(150, 100, 65))
    draw.ellipse([40, 105, 120, 185], fill=(200, 40, 40))
    draw.line([(80, 108), (86, 88)], fill=(90, 60, 30), width=4)
    draw.ellipse([120, 120, 220, 180], fill=(240, 200, 60))
    draw.ellipse([150, 60, 205, 125], fill=(120, 60, 140))
    return image


def lake() -> Image.Image:
    image = gradient((250, 140, 80), (255, 210, 150))
    draw = ImageDraw.Draw(image)
    draw.ellipse([98, 100, 158, 160], fill=(255, 240, 200))
    image.paste(gradient((60, 90, 140), (20, 40, 80), SIDE - 150), (0, 150))  # the sun sets behind it
    for row, y in enumerate(range(160, SIDE, 14)):
        half = 30 - 3 * row
        if half > 0:
            draw.line([(128 - half, y), (128 + half, y)], fill=(250, 200, 140), width=3)
    draw.polygon([(0, 150), (60, 110), (110, 150)], fill=(40, 50, 60))
    return image


SAMPLES: dict[str, Callable[[], Image.Image]] = {"hills": hills, "house": house, "fruit": fruit, "lake": lake}


def write(folder: Path = FOLDER) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, draw in SAMPLES.items():
        draw().save(folder / f"{name}.png", optimize=True)


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER)
