"""What a judge returns, and the interface every judge backend implements."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

from PIL import Image

from model.rewards import MAX_SCORE, MIN_SCORE, NO_PROBLEM, PERSPECTIVES

__all__ = ["PERSPECTIVES", "Judge", "Judgement", "Judgements"]


@dataclass(frozen=True)
class Judgement:
    """One perspective's verdict: passes or not, a 0-5 score, and what went wrong ("None" if nothing)."""

    verdict: bool
    score: float
    text: str = NO_PROBLEM

    def __post_init__(self) -> None:
        if not isinstance(self.verdict, bool):
            raise TypeError(f"verdict must be a bool, got {self.verdict!r}")
        if not math.isfinite(self.score) or not MIN_SCORE <= self.score <= MAX_SCORE:
            raise ValueError(f"score must be in [0, 5], got {self.score!r}")
        object.__setattr__(self, "score", float(self.score))

    def to_dict(self) -> dict[str, bool | float | str]:
        return asdict(self)


Judgements = dict[str, Judgement]


class Judge(ABC):
    """Scores an edit from the three perspectives.

    Async because the real backends wait on remote models: callers judge many edits concurrently.
    Use as `async with judge:` so network clients are closed in the event loop that opened them.
    """

    @abstractmethod
    async def judge(self, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
        """One Judgement per name in PERSPECTIVES."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not every judge holds connections
        """Release connections; judges that hold none keep this no-op."""

    async def __aenter__(self) -> Judge:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
