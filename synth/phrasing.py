"""Several phrasings of each instruction, so a model has to read the words rather than memorise one."""

from __future__ import annotations

PHRASINGS: dict[str, tuple[str, ...]] = {
    "recolour": (
        "make the {target} {colour}",
        "turn the {target} {colour}",
        "change the colour of the {target} to {colour}",
        "paint the {target} {colour}",
    ),
    "grow": ("make the {target} bigger", "enlarge the {target}", "increase the size of the {target}"),
    "shrink": ("make the {target} smaller", "shrink the {target}", "reduce the size of the {target}"),
    "remove": ("remove the {target}", "delete the {target}", "get rid of the {target}", "erase the {target}"),
    "add": (
        "add {article} {colour} {kind} in the {region}",
        "put {article} {colour} {kind} in the {region}",
        "draw {article} {colour} {kind} in the {region} corner",
    ),
    "texture": (
        "make the {target} {texture}",
        "give the {target} a {texture} texture",
        "cover the {target} in a {texture} pattern",
    ),
    "background colour": (
        "make the background {colour}",
        "change the background to {colour}",
        "paint the background {colour}",
    ),
    "background pattern": (
        "give the background {pattern}",
        "change the background to {pattern}",
        "put {pattern} on the background",
    ),
    "invert": ("invert the colours", "make it look like a photo negative", "turn it into a negative"),
    "darker": ("make the image darker", "darken the picture", "make it look like dusk"),
    "warm": ("give the image a warm tone", "make it warmer", "add a warm orange glow to everything"),
    "grayscale": ("make it black and white", "remove all the colour", "convert the image to grayscale"),
    "pixelate": ("make it look like pixel art", "pixelate the image", "turn it into a retro 8-bit picture"),
    "outline": (
        "outline every shape in black",
        "make it look like a cartoon with black outlines",
        "draw dark outlines around the objects",
    ),
    "posterize": ("make it look like a pop-art poster", "posterize the image", "use only bold flat colours"),
}
# Background patterns as instructions name them.
PATTERN_WORDS = {"plain": "a plain colour", "stripes": "stripes", "checks": "a checkerboard", "dots": "dots"}
TEXTURE_WORDS = {"solid": "plain", "striped": "striped", "dotted": "dotted", "checkered": "checkered"}


def article(word: str) -> str:
    """The indefinite article before a word: "an orange", "a red"."""
    return "an" if word[0] in "aeiou" else "a"
