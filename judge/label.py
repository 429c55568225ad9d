"""`rewardedit label`: fill a manifest's rewards with a judge, resumably."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from model import Rewards
from training.manifest import ManifestRow, read_manifest, write_manifest

from .batch import EditToJudge, Outcome, judge_with_progress, open_upright
from .judgement import Judge, Judgements

logger = logging.getLogger(__name__)

# How often the output manifest is rewritten while labelling, so an interrupted run loses little.
SAVE_EVERY_S = 10.0


@dataclass(frozen=True)
class LabelResult:
    rows: list[ManifestRow]
    kept: int
    labelled: int
    failed: int


def to_rewards(judgements: Judgements) -> Rewards:
    return Rewards(
        **{name: j.score for name, j in judgements.items()},
        **{f"{name}_text": j.text for name, j in judgements.items()},
    )


def label_manifest(manifest: Path, out: Path, judge: Judge, workers: int) -> LabelResult:
    """Label every row of `manifest` except those `out` already holds labelled, and write `out`.

    `out` is rewritten atomically every SAVE_EVERY_S seconds and at the end (also when the run
    fails), always holding every input row, so running the same command again resumes it.
    """
    done = {row.id: row for row in read_manifest(out) if row.rewards is not None} if out.exists() else {}
    # Rewards the input already carries (from another judge, say) are replaced: the judge labels it all.
    rows = [done.get(row.id) or dataclasses.replace(row, rewards=None) for row in read_manifest(manifest)]
    index = {row.id: i for i, row in enumerate(rows)}
    todo = [
        EditToJudge(
            row.id, row.instruction, lambda row=row: (open_upright(row.source), open_upright(row.edited))
        )
        for row in rows
        if row.rewards is None
    ]
    failed = 0
    last_save = time.monotonic()

    def on_result(edit: EditToJudge, outcome: Outcome) -> None:
        nonlocal failed, last_save
        if isinstance(outcome, Exception):
            failed += 1
            logger.error("line of %r left unlabelled: %s", edit.key, outcome)
        else:
            i = index[edit.key]
            rows[i] = dataclasses.replace(rows[i], rewards=to_rewards(outcome))
        if time.monotonic() - last_save > SAVE_EVERY_S:
            write_manifest(rows, out)
            last_save = time.monotonic()

    try:
        judge_with_progress(judge, todo, workers, on_result, "labelling")
    finally:
        write_manifest(rows, out)
    kept = sum(row.id in done for row in rows)
    return LabelResult(rows, kept=kept, labelled=len(todo) - failed, failed=failed)
