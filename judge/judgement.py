"""What a judge returns, and the interface every judge backend implements."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from PIL import Image

from model.rewards import MAX_SCORE, MIN_SCORE, NO_PROBLEM, PERSPECTIVES

__all__ = ["PERSPECTIVES", "Judge", "Judgement", "Judgements", "weighted_score"]


@dataclass(frozen=True)
class Judgement:
    """One perspective's verdict: passes or not, a 0-5 score, and what went wrong ("None" if nothing).

    `raw` is the judge's own unbounded score behind `score` where it has one (a reward model's mu,
    mapped to 0-5 by a calibration); None for judges that answer 0-5 directly.
    """

    verdict: bool
    score: float
    text: str = NO_PROBLEM
    raw: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.verdict, bool):
            raise TypeError(f"verdict must be a bool, got {self.verdict!r}")
        if not math.isfinite(self.score) or not MIN_SCORE <= self.score <= MAX_SCORE:
            raise ValueError(f"score must be in [0, 5], got {self.score!r}")
        object.__setattr__(self, "score", float(self.score))
        if self.raw is not None:
            if not math.isfinite(self.raw):
                raise ValueError(f"raw score must be finite, got {self.raw!r}")
            object.__setattr__(self, "raw", float(self.raw))

    def to_dict(self) -> dict[str, bool | float | str]:
        """verdict, score, text, and raw only where the judge has one."""
        fields = asdict(self)
        if self.raw is None:
            del fields["raw"]
        return fields


Judgements = dict[str, Judgement]


def weighted_score(judgements: Judgements, weights: Mapping[str, float]) -> float:
    """The weighted sum of the three scores over the weights' total: comparable, and still 0-5."""
    total = sum(weights[name] * judgements[name].score for name in PERSPECTIVES)
    return total / sum(weights.values())


class Judge(ABC):
    """Scores an edit from the three perspectives.

    Async because the real backends wait on remote models: callers judge many edits concurrently.
    Use as `async with judge:` so network clients are closed in the event loop that opened them.
    """

    @abstractmethod
    async def judge(self, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
        """One Judgement per perspective the judge was made for (all of PERSPECTIVES unless a composite
        asked for fewer, see registry.JudgeOptions.perspectives); more are ignored."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not every judge holds connections
        """Release connections; judges that hold none keep this no-op."""

    async def __aenter__(self) -> Judge:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
