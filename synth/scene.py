"""A scene description: background, shapes and whole-image effects; the renderer turns it into pixels."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .vocabulary import COLOURS, FILTERS, PATTERNS, SHAPES, STYLES, TEXTURES


@dataclass(frozen=True)
class Shape:
    """One object: a kind, a colour, a texture, a centre (x, y) and a half-extent in pixels."""

    kind: str
    colour: str
    x: int
    y: int
    size: int
    texture: str = "solid"

    def __post_init__(self) -> None:
        _check(self.kind, SHAPES, "shape kind")
        _check(self.colour, COLOURS, "colour")
        _check(self.texture, TEXTURES, "texture")

    @property
    def name(self) -> str:
        """How instructions refer to it; scenes keep (colour, kind) unique so this is unambiguous."""
        return f"{self.colour} {self.kind}"


@dataclass(frozen=True)
class Background:
    colour: str
    pattern: str = "plain"
    accent: str = "cream"

    def __post_init__(self) -> None:
        _check(self.colour, COLOURS, "colour")
        _check(self.accent, COLOURS, "colour")
        _check(self.pattern, PATTERNS, "pattern")


@dataclass(frozen=True)
class Scene:
    """Everything that determines an image; edits are functions from Scene to Scene."""

    width: int
    height: int
    background: Background
    shapes: tuple[Shape, ...] = field(default_factory=tuple)
    filter: str = "none"
    style: str = "none"

    def __post_init__(self) -> None:
        _check(self.filter, FILTERS, "filter")
        _check(self.style, STYLES, "style")

    def with_shape(self, index: int, **changes: Any) -> Scene:
        shapes = list(self.shapes)
        shapes[index] = replace(shapes[index], **changes)
        return replace(self, shapes=tuple(shapes))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        shapes = tuple(Shape(**shape) for shape in data["shapes"])
        return cls(**{**data, "background": Background(**data["background"]), "shapes": shapes})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Scene:
        return cls.from_dict(json.loads(text))


def _check(value: str, known: object, what: str) -> None:
    if value not in known:  # type: ignore[operator]
        raise ValueError(f"unknown {what} {value!r}")
