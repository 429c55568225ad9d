"""Helpers shared by the judge tests."""

from __future__ import annotations

import asyncio

import numpy as np
from PIL import Image

from judge import Judge, Judgements


def judge_once(judge: Judge, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
    """Judge one edit in a fresh event loop, closing the judge afterwards (as the commands do)."""

    async def run() -> Judgements:
        async with judge:
            return await judge.judge(source, edited, instruction)

    return asyncio.run(run())


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))


def rewardedit(*args: str) -> int:
    """Run the `rewardedit` command in this process (the judge server lives here too); its exit code."""
    from rewardedit.cli import main

    try:
        main([str(arg) for arg in args])
    except SystemExit as done:
        return done.code
    raise AssertionError("rewardedit returned without an exit code")
