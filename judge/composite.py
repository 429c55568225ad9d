"""Judges combined per perspective: `following=editreward,preserving=openai,quality=editreward`.

A spec is one backend name (it judges everything), or comma-separated PERSPECTIVE=NAME items
with at most one bare NAME as the default for the perspectives not named. Each backend is asked
only for its own perspectives (registry.create_judge), and an edit's backends run concurrently.
"""

from __future__ import annotations

import asyncio

from PIL import Image

from .judgement import PERSPECTIVES, Judge, Judgements


def parse_judge_spec(spec: str) -> dict[str, str]:
    """{perspective: backend name}; ValueError for a perspective unknown, named twice or left unjudged."""
    assigned: dict[str, str] = {}
    default = None
    for item in (part.strip() for part in spec.split(",")):
        perspective, sep, name = (part.strip() for part in item.partition("="))
        if not sep:
            if not perspective or default is not None:
                raise ValueError(
                    f"judge {spec!r}: expected NAME or PERSPECTIVE=NAME items, one bare NAME at most"
                )
            default = perspective
            continue
        if perspective not in PERSPECTIVES:
            raise ValueError(f"judge {spec!r}: {perspective!r} is not one of {', '.join(PERSPECTIVES)}")
        if perspective in assigned or not name:
            raise ValueError(f"judge {spec!r}: {perspective} needs exactly one judge")
        assigned[perspective] = name
    missing = [p for p in PERSPECTIVES if p not in assigned and default is None]
    if missing:
        raise ValueError(f"judge {spec!r}: no judge for {', '.join(missing)} (add them, or a default NAME)")
    return {p: assigned.get(p) or default for p in PERSPECTIVES}


class CompositeJudge(Judge):
    """Asks each backend for its perspectives of the edit and puts the answers together."""

    def __init__(self, backends: dict[str, Judge], assignment: dict[str, str]) -> None:
        self.backends = backends
        self.assignment = assignment

    async def judge(self, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
        names = list(self.backends)
        # Let every backend finish (and reach its cache) even when another one fails.
        answers = await asyncio.gather(
            *(self.backends[name].judge(source, edited, instruction) for name in names),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        by_name = dict(zip(names, answers, strict=True))
        return {p: by_name[self.assignment[p]][p] for p in PERSPECTIVES}

    async def aclose(self) -> None:
        for backend in self.backends.values():
            await backend.aclose()
