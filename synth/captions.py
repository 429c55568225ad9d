"""Scenes and their exact descriptions: text-to-image pretraining, a stand-in for Stable Diffusion's.

InstructPix2Pix starts from a model that already draws what a caption names; ours starts from
random weights and has to learn drawing from noisy edits alone. A caption here names everything
the renderer draws (each shape's colour, texture, kind and quadrant, the background's colour and
pattern, the whole-image effect) in the words the instructions use, so what it teaches is what
an edit instruction asks for: "a red striped square in the top left ... as pixel art".
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .phrasing import article
from .sampling import pick, random_scene
from .scene import Background, Scene, Shape
from .vocabulary import FILTERS, STYLES

# How a caption names each whole-image effect: the words of its edit instructions (synth/phrasing.py).
EFFECT_WORDS = {
    "invert": "as a photo negative",
    "darker": "at dusk",
    "warm": "with a warm orange glow",
    "grayscale": "in black and white",
    "pixelate": "as pixel art",
    "outline": "with black outlines",
    "posterize": "as a pop art poster",
}
PATTERN_CAPTIONS = {
    "plain": "",
    "stripes": " with {accent} stripes",
    "checks": " with a {accent} checkerboard",
    "dots": " with {accent} dots",
}
EFFECT_SHARE = 0.5  # of captioned scenes carry one whole-image effect (a filter or a style)


def region(shape: Shape, scene: Scene) -> str:
    """The quadrant ("top left", ...) that holds the shape's centre, as add instructions name them."""
    vertical = "top" if 2 * shape.y < scene.height else "bottom"
    horizontal = "left" if 2 * shape.x < scene.width else "right"
    return f"{vertical} {horizontal}"


def describe_shape(shape: Shape, scene: Scene) -> str:
    texture = "" if shape.texture == "solid" else f" {shape.texture}"
    return f"{article(shape.colour)} {shape.colour}{texture} {shape.kind} in the {region(shape, scene)}"


def describe_background(background: Background) -> str:
    pattern = PATTERN_CAPTIONS[background.pattern].format(accent=background.accent)
    return f"on {article(background.colour)} {background.colour} background{pattern}"


def caption(scene: Scene) -> str:
    """Everything that determines the scene's pixels, in instruction words; shapes in drawing order."""
    shapes = " and ".join(describe_shape(shape, scene) for shape in scene.shapes)
    parts = [shapes, describe_background(scene.background)]
    parts += [EFFECT_WORDS[effect] for effect in (scene.style, scene.filter) if effect != "none"]
    return " , ".join(part for part in parts if part)


def captioned_scene(rng: np.random.Generator, width: int = 64, height: int = 64) -> Scene:
    """A random scene as the edit data draws them, half of them with one filter or style on top."""
    scene = random_scene(rng, width, height)
    if rng.random() >= EFFECT_SHARE:
        return scene
    effect = pick(rng, [e for e in (*FILTERS, *STYLES) if e != "none"])
    return replace(scene, filter=effect) if effect in FILTERS else replace(scene, style=effect)
