"""The tables printed or written at the end of `label` and `eval`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from model import Rewards
from model.rewards import MAX_SCORE

from .judgement import PERSPECTIVES, Judgements

ALL = "all"


def score_distribution(rewards: Sequence[Rewards]) -> str:
    """Plain-text table: per perspective, how many scores fall in [k, k+1) (5 alone), the mean and < 5.

    The share below 5 is the figure the paper quotes to show how noisy unfiltered edit data is.
    """
    header = f"{'':<11}" + "".join(f"{k:>7}" for k in range(6)) + f"{'mean':>7}{'< 5':>7}"
    lines = [f"score distribution over {len(rewards)} labelled lines", header]
    for p, name in enumerate(PERSPECTIVES):
        scores = [r.scores[p] for r in rewards]
        counts = [0] * 6
        for score in scores:
            counts[min(5, math.floor(score))] += 1
        mean = sum(scores) / len(scores) if scores else math.nan
        below = sum(s < MAX_SCORE for s in scores) / len(scores) if scores else math.nan
        lines.append(f"{name:<11}" + "".join(f"{c:>7}" for c in counts) + f"{mean:>7.2f}{below:>7.0%}")
    return "\n".join(lines)


def perspective_stats(judged: Sequence[Judgements]) -> dict[str, dict[str, float | None]]:
    """Yes-rate ("accuracy", as the paper reports it) and mean score per perspective."""
    stats: dict[str, dict[str, float | None]] = {}
    for name in PERSPECTIVES:
        verdicts = [j[name].verdict for j in judged]
        scores = [j[name].score for j in judged]
        stats[name] = {
            "accuracy": sum(verdicts) / len(verdicts) if judged else None,
            "mean_score": sum(scores) / len(scores) if judged else None,
        }
    return stats


def evaluation_table(results: Iterable[tuple[str, Judgements]], category_order: Sequence[str]) -> dict:
    """{category or "all": {"count", <perspective>: {"accuracy", "mean_score"}}}, known categories first."""
    by_category: dict[str, list[Judgements]] = {}
    for category, judgements in results:
        by_category.setdefault(category, []).append(judgements)
    known = [c for c in category_order if c in by_category]
    ordered = known + sorted(set(by_category) - set(known))
    everything = [j for c in ordered for j in by_category[c]]
    groups = [*((c, by_category[c]) for c in ordered), (ALL, everything)]
    return {name: {"count": len(judged), **perspective_stats(judged)} for name, judged in groups}


def markdown_table(table: dict) -> str:
    """The evaluation table as Markdown: one row per category, then "all"."""
    columns = [f"{name} {what}" for name in PERSPECTIVES for what in ("acc", "score")]
    lines = ["| category | n | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for category, row in table.items():
        cells = []
        for name in PERSPECTIVES:
            accuracy, score = row[name]["accuracy"], row[name]["mean_score"]
            cells += ["-", "-"] if accuracy is None else [f"{accuracy:.1%}", f"{score:.2f}"]
        label = f"**{category}**" if category == ALL else category
        lines.append(f"| {label} | {row['count']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
