"""Scores every candidate of every benchmark item with one judge, and measures the judge on them.

A judge gives three judgements per edit; the benchmarks need one number per edit. That number is
what `rewardedit select` ranks edits by (judge/select.py): EditReward's overall (the mean of its
two heads' raw mu) where editreward judges following and quality, otherwise the weighted mean of
the three 0-5 scores (a chat-completions VLM's, the oracle's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..batch import EditToJudge, Outcome, judge_with_progress
from ..judgement import Judge
from ..select import selection_score
from . import aurora_bench, editreward_bench, genai_bench, imagenhub
from .items import PAIRWISE, RANKING, RATING, BenchItem, Benchmark
from .metrics import grouped_spearman, ranking_accuracy, tie_calibrated_accuracy

logger = logging.getLogger(__name__)

LOADERS: dict[str, Callable[[Path], Benchmark]] = {
    genai_bench.NAME: genai_bench.load,
    aurora_bench.NAME: aurora_bench.load,
    imagenhub.NAME: imagenhub.load,
    editreward_bench.NAME: editreward_bench.load,
}


def load_benchmark(name: str, path: Path, limit: int | None = None) -> Benchmark:
    """ValueError for an unknown name; InputFileError for a file that is not in the format."""
    canonical = name.lower().replace("_", "-")
    if canonical not in LOADERS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(LOADERS)}")
    benchmark = LOADERS[canonical](path)
    if limit is not None:
        benchmark = Benchmark(benchmark.name, benchmark.kind, benchmark.items[:limit])
    if not benchmark.items:
        raise ValueError(f"{name}: {path} holds no items")
    return benchmark


@dataclass
class JudgeScores:
    """One scalar per candidate edit, keyed (benchmark, item position, candidate index)."""

    scores: dict[tuple[str, int, int], float] = field(default_factory=dict)
    errors: dict[tuple[str, int, int], str] = field(default_factory=dict)


def edits_of(benchmarks: Sequence[Benchmark]) -> list[tuple[tuple[str, int, int], EditToJudge]]:
    edits = []
    for benchmark in benchmarks:
        for n, item in enumerate(benchmark.items):
            for i, candidate in enumerate(item.candidates):
                key = (benchmark.name, n, i)

                def load(item: BenchItem = item, candidate=candidate):
                    return item.source.open(), candidate.open()

                edits.append((key, EditToJudge(f"{benchmark.name}/{item.id}/{i}", item.instruction, load)))
    return edits


def score_candidates(
    judge: Judge,
    benchmarks: Sequence[Benchmark],
    by: str,
    weights: Mapping[str, float],
    workers: int,
    description: str,
) -> JudgeScores:
    """Judge every candidate once; an edit the judge could not read is recorded, the run goes on."""
    result = JudgeScores()
    keyed = edits_of(benchmarks)
    key_of = {id(edit): key for key, edit in keyed}

    def on_result(edit: EditToJudge, outcome: Outcome) -> None:
        key = key_of[id(edit)]
        if isinstance(outcome, Exception):
            logger.warning("%s: %s", edit.key, outcome)
            result.errors[key] = str(outcome)
        else:
            result.scores[key] = selection_score(outcome, by, weights)

    judge_with_progress(judge, [edit for _, edit in keyed], workers, on_result, description)
    return result


def measure(benchmark: Benchmark, scores: Mapping[tuple[str, int, int], float]) -> dict[str, object]:
    """The benchmark's metrics over the items whose every candidate was scored."""
    scored: list[tuple[BenchItem, list[float]]] = []
    for n, item in enumerate(benchmark.items):
        values = [scores.get((benchmark.name, n, i)) for i in range(len(item.candidates))]
        if all(v is not None for v in values):
            scored.append((item, [float(v) for v in values]))  # type: ignore[arg-type]
    metrics: dict[str, object] = {
        "items": len(benchmark.items),
        "unscored": len(benchmark.items) - len(scored),
    }
    if not scored:
        return metrics
    if benchmark.kind == PAIRWISE:
        margins = [s[0] - s[1] for _, s in scored]
        truth = [item.relations[(0, 1)] for item, _ in scored]
        metrics.update(tie_calibrated_accuracy(margins, truth).as_dict())
    elif benchmark.kind == RATING:
        groups = [item.group for item, _ in scored]
        ratings = [float(item.rating) for item, _ in scored]  # type: ignore[arg-type]
        metrics.update(grouped_spearman(groups, [s[0] for _, s in scored], ratings).as_dict())
    elif benchmark.kind == RANKING:
        metrics.update(ranking_accuracy([(s, dict(item.relations)) for item, s in scored]).as_dict())
    return metrics
