"""Edits: an instruction in one of the seven categories and the exact scene it asks for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .phrasing import PATTERN_WORDS, PHRASINGS, TEXTURE_WORDS, article
from .sampling import fits, pick, quadrant_centre, size_range, taken_colours, unused_names
from .scene import Background, Scene, Shape
from .vocabulary import COLOURS, FILTERS, PATTERNS, REGIONS, STYLES, TEXTURES

GROW, SHRINK = 3, 2  # pixels a resize adds to / takes from the half-extent


@dataclass(frozen=True)
class EditCase:
    """One instruction and its ground truth: the source scene and the scene the edit must produce."""

    category: str
    instruction: str
    before: Scene
    after: Scene


def say(rng: np.random.Generator, phrasing: str, **words: str) -> str:
    return pick(rng, PHRASINGS[phrasing]).format(**words)


def local(rng: np.random.Generator, scene: Scene) -> tuple[str, Scene]:
    index = int(rng.integers(len(scene.shapes)))
    shape = scene.shapes[index]
    if rng.random() < 0.3:
        grow = bool(rng.random() < 0.5)
        size = shape.size + GROW if grow else max(2, shape.size - SHRINK)
        after = scene.with_shape(index, size=size)
        if fits(after.shapes[index], after):
            return say(rng, "grow" if grow else "shrink", target=shape.name), after
    colour = pick(rng, [c for c in COLOURS if c not in taken_colours(scene)])
    return say(rng, "recolour", target=shape.name, colour=colour), scene.with_shape(index, colour=colour)


def remove(rng: np.random.Generator, scene: Scene) -> tuple[str, Scene]:
    index = int(rng.integers(len(scene.shapes)))
    shapes = scene.shapes[:index] + scene.shapes[index + 1 :]
    return say(rng, "remove", target=scene.shapes[index].name), replace(scene, shapes=shapes)


def add(rng: np.random.Generator, scene: Scene) -> tuple[str, Scene]:
    """A solid shape of middle size at the centre of a free quadrant.

    The instruction names only the quadrant, so the place and size must follow from it: an edit
    whose truth is drawn at random inside the quadrant cannot be learnt, only guessed.
    """
    names = unused_names(scene)
    colour, kind = names[int(rng.integers(len(names)))]
    size = sum(size_range(min(scene.width, scene.height))) // 2
    for region in rng.permutation(list(REGIONS)):
        shape = Shape(kind, colour, *quadrant_centre(str(region), scene), size)
        if fits(shape, scene):
            instruction = say(
                rng, "add", article=article(colour), colour=colour, kind=kind, region=str(region)
            )
            return instruction, replace(scene, shapes=(*scene.shapes, shape))
    raise NoRoomError("no free quadrant for a new shape")


def texture(rng: np.random.Generator, scene: Scene) -> tuple[str, Scene]:
    index = int(rng.integers(len(scene.shapes)))
    shape = scene.shapes[index]
    new = pick(rng, [t for t in TEXTURES if t != shape.texture])
    return say(rng, "texture", target=shape.name, texture=TEXTURE_WORDS[new]), scene.with_shape(
        index, texture=new
    )


def background(rng: np.random.Generator, scene: Scene) -> tuple[str, Scene]:
    old = scene.background
    if rng.random() < 0.6:
        colour = pick(rng, [c for c in COLOURS if c not in taken_colours(scene)])
        instruction = say(rng, "background colour", colour=colour)
        return instruction, replace(scene, background=Background(colour, old.pattern, old.accent))
    pattern = pick(rng, [p for p in PATTERNS if p != old.pattern])
    instruction = say(rng, "background pattern", pattern=PATTERN_WORDS[pattern])
    return instruction, replace(scene, background=Background(old.colour, pattern, old.accent))


def global_effect(rng: np.random.Generator, scene: Scene) -> tuple[str, Scene]:
    name = pick(rng, [f for f in FILTERS if f not in ("none", scene.filter)])
    return say(rng, name), replace(scene, filter=name)


def style(rng: np.random.Generator, scene: Scene) -> tuple[str, Scene]:
    name = pick(rng, [s for s in STYLES if s not in ("none", scene.style)])
    return say(rng, name), replace(scene, style=name)


class NoRoomError(ValueError):
    """The scene has no room for what the edit needs (e.g. a free quadrant to add a shape)."""


PROPOSERS: dict[str, Callable[[np.random.Generator, Scene], tuple[str, Scene]]] = {
    "local": local,
    "remove": remove,
    "add": add,
    "texture": texture,
    "background": background,
    "global": global_effect,
    "style": style,
}


def propose(rng: np.random.Generator, scene: Scene, category: str) -> EditCase:
    """A random edit of the category with its exact target scene; NoRoomError if the scene cannot take it."""
    instruction, after = PROPOSERS[category](rng, scene)
    return EditCase(category, instruction, scene, after)
