"""`rewardedit select`: keep a manifest's best rows by a judge's scores, resumably.

EditReward's authors kept the best 20K of 46K training examples by its score. Each row's
judgements are appended to a scores file beside the output (`SUBSET.scores.jsonl`) as they come,
so a rerun of the same command judges only the rows still missing; the judge's cache makes even
those cheap when they were judged before. The subset keeps the chosen rows as they are, in the
manifest's order.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from training.manifest import ManifestRow, read_manifest, write_manifest

from .batch import EditToJudge, Outcome, judge_with_progress, open_upright
from .errors import InputFileError
from .judgement import PERSPECTIVES, Judge, Judgement, Judgements, weighted_score

logger = logging.getLogger(__name__)

BY_SCORE = "score"  # the weighted mean of the three 0-5 scores
BY_OVERALL = "overall"  # EditReward's overall: the mean of following's and quality's raw mu
HISTOGRAM_BINS = 12
BAR_WIDTH = 40


@dataclass(frozen=True)
class Cut:
    """Which rows a selection keeps: the top_k best, or those scoring at least min_score."""

    top_k: int | None = None
    min_score: float | None = None

    def __post_init__(self) -> None:
        if (self.top_k is None) == (self.min_score is None):
            raise ValueError("give exactly one of --top-k and --min-score")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"--top-k must be at least 1, got {self.top_k}")


@dataclass(frozen=True)
class SelectResult:
    scores: dict[str, float]  # row id -> selection score, for every judged row
    kept: list[ManifestRow]
    threshold: float | None  # the lowest kept score
    failed: int
    total: int


def scores_path(out: Path) -> Path:
    return out.with_name(out.name + ".scores.jsonl")


def default_by(judge_spec: str) -> str:
    """EditReward's overall where editreward judges following and quality (as its authors ranked
    edits), else the weighted mean of the three 0-5 scores. ValueError for a bad spec."""
    from .composite import parse_judge_spec

    assignment = parse_judge_spec(judge_spec)
    editreward = {assignment["following"], assignment["quality"]} == {"editreward"}
    return BY_OVERALL if editreward else BY_SCORE


def selection_score(judgements: Judgements, by: str, weights: Mapping[str, float]) -> float:
    if by == BY_SCORE:
        return weighted_score(judgements, weights)
    raws = [judgements[name].raw for name in ("following", "quality")]
    if any(raw is None for raw in raws):
        raise ValueError(
            "--by overall needs a judge that gives a raw score for following and quality (editreward)"
        )
    return sum(raws) / 2


def read_scored(path: Path, judge_spec: str) -> dict[str, Judgements]:
    """The judgements an earlier run of the same judge wrote; InputFileError if another judge wrote them."""
    if not path.exists():
        return {}
    done: dict[str, Judgements] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
        except ValueError:
            logger.warning(
                "%s:%d: unreadable (a run stopped mid-line?); judging that row again", path, number
            )
            continue
        if record.get("judge") != judge_spec:
            raise InputFileError(
                f"{path} holds scores of judge {record.get('judge')!r}, not {judge_spec!r}: "
                "use the same --judge, or remove the file to start over"
            )
        done[record["id"]] = {name: Judgement(**fields) for name, fields in record["judgements"].items()}
    return done


def cut_short(path: Path) -> bool:
    """Whether the file's last line lacks its newline."""
    with path.open("rb") as file:
        if file.seek(0, 2) == 0:
            return False
        file.seek(-1, 2)
        return file.read(1) != b"\n"


def choose(scores: Mapping[str, float], order: Sequence[str], cut: Cut) -> tuple[set[str], float | None]:
    """The ids kept and the lowest kept score; top-k ties go to the earlier row."""
    ranked = sorted((row_id for row_id in order if row_id in scores), key=lambda row_id: -scores[row_id])
    kept = ranked[: cut.top_k] if cut.top_k is not None else [i for i in ranked if scores[i] >= cut.min_score]
    return set(kept), min((scores[i] for i in kept), default=None)


def select_manifest(
    manifest: Path,
    out: Path,
    judge: Judge,
    judge_spec: str,
    workers: int,
    cut: Cut,
    by: str,
    weights: Mapping[str, float],
) -> SelectResult:
    """Judge the rows not yet in the scores file, then write the kept rows to `out`."""
    rows = read_manifest(manifest)
    path = scores_path(out)
    judged = read_scored(path, judge_spec)
    todo = [
        EditToJudge(
            row.id, row.instruction, lambda row=row: (open_upright(row.source), open_upright(row.edited))
        )
        for row in rows
        if row.id not in judged
    ]
    failed = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as scores_file:
        if cut_short(path):
            scores_file.write("\n")  # a stopped run left half a line: start a fresh one

        def on_result(edit: EditToJudge, outcome: Outcome) -> None:
            nonlocal failed
            if isinstance(outcome, Exception):
                failed += 1
                logger.error("row %r not judged: %s", edit.key, outcome)
                return
            judged[edit.key] = outcome
            record = {
                "id": edit.key,
                "judge": judge_spec,
                "judgements": {p: outcome[p].to_dict() for p in PERSPECTIVES},
            }
            scores_file.write(json.dumps(record) + "\n")
            scores_file.flush()

        judge_with_progress(judge, todo, workers, on_result, "judging")
    scores = {row.id: selection_score(judged[row.id], by, weights) for row in rows if row.id in judged}
    kept_ids, threshold = choose(scores, [row.id for row in rows], cut)
    kept = [row for row in rows if row.id in kept_ids]
    write_manifest(kept, out)
    return SelectResult(scores, kept, threshold, failed, len(rows))


def histogram(scores: Sequence[float], threshold: float | None, label: str) -> str:
    """Text histogram of the selection scores, the bin holding the cut marked."""
    if not scores:
        return f"no {label} scores"
    low, high = min(scores), max(scores)
    width = (high - low) / HISTOGRAM_BINS or 1.0
    counts = [0] * HISTOGRAM_BINS
    for score in scores:
        counts[min(HISTOGRAM_BINS - 1, math.floor((score - low) / width))] += 1
    cut_bin = None if threshold is None else min(HISTOGRAM_BINS - 1, math.floor((threshold - low) / width))
    median = statistics.median(scores)
    lines = [f"{label} over {len(scores)} rows: min {low:.3f}, median {median:.3f}, max {high:.3f}"]
    for index, count in enumerate(counts):
        start = low + index * width
        bar = "#" * math.ceil(BAR_WIDTH * count / max(counts))
        mark = f"   <- cut {threshold:.3f}: rows at or above it are kept" if index == cut_bin else ""
        lines.append(f"  [{start:9.3f}, {start + width:9.3f})  {count:6d} {bar}{mark}")
    return "\n".join(lines)
