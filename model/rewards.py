"""The reward a user asks for: three 0-5 scores and three short texts (following, preserving, quality)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .errors import InvalidInputError

PERSPECTIVES = ("following", "preserving", "quality")
MIN_SCORE, MAX_SCORE = 0.0, 5.0
MAX_TEXT_CHARS = 300
NO_PROBLEM = "None"


@dataclass(frozen=True)
class Rewards:
    """Scores in [0, 5] and texts naming what went wrong; the defaults are the best reward."""

    following: float = MAX_SCORE
    preserving: float = MAX_SCORE
    quality: float = MAX_SCORE
    following_text: str = NO_PROBLEM
    preserving_text: str = NO_PROBLEM
    quality_text: str = NO_PROBLEM

    def __post_init__(self) -> None:
        for name in PERSPECTIVES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(f"reward score {name!r} must be a number, got {value!r}")
            if not math.isfinite(value) or not MIN_SCORE <= value <= MAX_SCORE:
                raise InvalidInputError(f"reward score {name!r} must be in [0, 5], got {value!r}")
            object.__setattr__(self, name, float(value))
            text = getattr(self, f"{name}_text")
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"reward text '{name}_text' must be a string, got {type(text).__name__}"
                )
            if len(text) > MAX_TEXT_CHARS:
                raise InvalidInputError(
                    f"reward text '{name}_text' is longer than {MAX_TEXT_CHARS} characters"
                )

    @property
    def scores(self) -> tuple[float, float, float]:
        return (self.following, self.preserving, self.quality)

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)
