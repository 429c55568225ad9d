"""The words of the editing world: colours, shape kinds, textures, patterns and whole-image effects.

Colours avoid greys (and have no channel at 0 or 255), so every global effect changes every pixel:
the tests rely on that to check that a global edit is global.
"""

from __future__ import annotations

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "orange": (245, 130, 30),
    "yellow": (238, 206, 45),
    "green": (44, 160, 44),
    "teal": (30, 150, 140),
    "blue": (31, 90, 200),
    "purple": (128, 60, 170),
    "pink": (235, 110, 170),
    "brown": (140, 86, 50),
    "cream": (245, 232, 200),
    "navy": (25, 35, 110),
    "lime": (170, 220, 60),
}
SHAPES = ("square", "circle", "triangle", "diamond", "cross")
# Object textures: the pattern is drawn in a darker shade of the object's own colour.
TEXTURES = ("solid", "striped", "dotted", "checkered")
# Background patterns: drawn in a second (accent) colour over the background colour.
PATTERNS = ("plain", "stripes", "checks", "dots")
FILTERS = ("none", "invert", "darker", "warm", "grayscale")
STYLES = ("none", "pixelate", "outline", "posterize")
CATEGORIES = ("local", "remove", "add", "texture", "background", "global", "style")
REGIONS = ("top left", "top right", "bottom left", "bottom right")
