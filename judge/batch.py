"""Judging many edits concurrently, where one unreadable item must not stop the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps
from tqdm.auto import tqdm

from model import InvalidInputError
from model.image import load_image

from .errors import InputFileError, JudgeReplyError
from .judgement import Judge, Judgements

# An item's result, or what it failed with while the run goes on (JudgeRequestError stops the run).
Outcome = Judgements | JudgeReplyError | InputFileError


@dataclass(frozen=True)
class EditToJudge:
    """One (source, edited, instruction) triple; images are loaded only when its turn comes."""

    key: str
    instruction: str
    load: Callable[[], tuple[Image.Image, Image.Image]]


def open_upright(path: Path) -> Image.Image:
    """The image as the pipeline sees it (EXIF orientation applied); InputFileError if unreadable."""
    try:
        return ImageOps.exif_transpose(load_image(path))
    except InvalidInputError as exc:
        raise InputFileError(str(exc)) from exc


async def judge_all(
    judge: Judge,
    edits: Sequence[EditToJudge],
    workers: int,
    on_result: Callable[[EditToJudge, Outcome], None],
) -> None:
    """Judge every edit with `workers` items in flight, reporting each outcome as it arrives."""
    pending = iter(edits)

    async def work() -> None:
        for edit in pending:  # the iterator is shared: each item goes to exactly one worker
            try:
                outcome: Outcome = await judge.judge(*edit.load(), edit.instruction)
            except (JudgeReplyError, InputFileError) as exc:
                outcome = exc
            on_result(edit, outcome)

    tasks = [asyncio.ensure_future(work()) for _ in range(max(1, min(workers, len(edits))))]
    try:
        await asyncio.gather(*tasks)
    finally:  # a failing worker stops the others instead of leaving them running
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def judge_with_progress(
    judge: Judge,
    edits: Sequence[EditToJudge],
    workers: int,
    on_result: Callable[[EditToJudge, Outcome], None],
    description: str,
) -> None:
    """judge_all in a fresh event loop behind a progress bar; the judge is closed in that loop."""
    with tqdm(total=len(edits), desc=description, unit="edit") as bar:

        def report(edit: EditToJudge, outcome: Outcome) -> None:
            on_result(edit, outcome)
            bar.update()

        async def run() -> None:
            async with judge:
                await judge_all(judge, edits, workers, report)

        asyncio.run(run())
