"""Random scenes: 2-4 non-overlapping shapes, each in a colour of its own, on a random background."""

from __future__ import annotations

import numpy as np

from .render import shape_mask
from .scene import Background, Scene, Shape
from .vocabulary import COLOURS, PATTERNS, SHAPES, TEXTURES

# Few shapes, each colour used once per scene (never the background's colour or accent): a shape's
# colour alone then finds it, so a small model learns which pixels an instruction names in far fewer
# steps than when "the red cross" must be told from a red square (docs/synthetic-experiment.md, run 6).
MIN_SHAPES, MAX_SHAPES = 2, 4
GAP = 2  # pixels kept free around every shape, so edits of one never touch another
ATTEMPTS = 200


def pick(rng: np.random.Generator, options: object) -> str:
    return str(rng.choice(list(options)))  # type: ignore[call-overload]


def size_range(scene_side: int) -> tuple[int, int]:
    return max(3, scene_side // 9), max(4, scene_side // 6)


def fits(shape: Shape, scene: Scene) -> bool:
    """Inside the frame and GAP pixels away from every other shape of the scene."""
    h, w, s = scene.height, scene.width, shape.size + GAP
    if not (s <= shape.x < w - s and s <= shape.y < h - s):
        return False
    grown = shape_mask(Shape(shape.kind, shape.colour, shape.x, shape.y, s), h, w)
    return not any((grown & shape_mask(other, h, w)).any() for other in scene.shapes if other != shape)


def quadrant_centre(region: str, scene: Scene) -> tuple[int, int]:
    """The centre (x, y) of one quadrant ("top left", ...): where an added shape goes."""
    vertical, horizontal = region.split()
    x = scene.width // 4 if horizontal == "left" else 3 * scene.width // 4
    y = scene.height // 4 if vertical == "top" else 3 * scene.height // 4
    return x, y


def place_shape(rng: np.random.Generator, scene: Scene, kind: str, colour: str) -> Shape | None:
    """A new shape anywhere it fits the scene, or None when there is no room."""
    low, high = size_range(min(scene.width, scene.height))
    for _ in range(ATTEMPTS):
        shape = Shape(
            kind,
            colour,
            int(rng.integers(scene.width)),
            int(rng.integers(scene.height)),
            int(rng.integers(low, high + 1)),
            pick(rng, TEXTURES) if rng.random() < 0.3 else "solid",
        )
        if fits(shape, scene):
            return shape
    return None


def taken_colours(scene: Scene) -> set[str]:
    """Colours no new or recoloured shape, nor a new background colour, may take: any in use."""
    return {s.colour for s in scene.shapes} | {scene.background.colour, scene.background.accent}


def unused_names(scene: Scene) -> list[tuple[str, str]]:
    taken = taken_colours(scene)
    return [(c, k) for c in COLOURS if c not in taken for k in SHAPES]


def random_scene(rng: np.random.Generator, width: int = 64, height: int = 64) -> Scene:
    """A scene whose shapes stand apart from each other and from the background colour."""
    colour = pick(rng, COLOURS)
    pattern = pick(rng, PATTERNS)
    accent = pick(rng, [c for c in COLOURS if c != colour])
    scene = Scene(width, height, Background(colour, pattern, accent))
    for _ in range(int(rng.integers(MIN_SHAPES, MAX_SHAPES + 1))):
        names = unused_names(scene)
        shape_colour, kind = names[int(rng.integers(len(names)))]
        shape = place_shape(rng, scene, kind, shape_colour)
        if shape is not None:
            scene = Scene(width, height, scene.background, (*scene.shapes, shape))
    return scene
