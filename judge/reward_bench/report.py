"""One table per benchmark, the judges side by side, as Markdown and JSON.

Published figures are added as reference rows, marked as such: they come from EditReward's README
(its "Alignment with Humans" and "EditReward-Bench Results" tables), were measured by its authors
on the full benchmarks, and are not measured by this command.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .aurora_bench import NAME as AURORA
from .editreward_bench import NAME as EDITREWARD_BENCH
from .genai_bench import NAME as GENAI
from .imagenhub import NAME as IMAGENHUB

PUBLISHED_SOURCE = "EditReward README (TIGER-AI-Lab/EditReward), percent"
# {benchmark: {system: {column: value in percent, or None where the table has "--"}}}
PUBLISHED: dict[str, dict[str, dict[str, float | None]]] = {
    GENAI: {
        "EditReward (MiMo-VL-7B)": {"accuracy": 65.72},
        "GPT-4o": {"accuracy": 53.54},
        "Random": {"accuracy": 25.90},
    },
    AURORA: {
        "EditReward (MiMo-VL-7B)": {"accuracy": 63.62},
        "GPT-4o": {"accuracy": 50.81},
        "Random": {"accuracy": 33.43},
    },
    IMAGENHUB: {
        "EditReward (MiMo-VL-7B)": {"spearman": 35.20},
        "GPT-4o": {"spearman": 38.21},
        "Human-to-Human": {"spearman": 41.84},
    },
    EDITREWARD_BENCH: {
        "EditReward (MiMo-VL-7B)": {"k2": 56.45, "k3": 42.67, "k4": 11.49, "overall": 38.42},
        "GPT-4o": {"k2": 45.69, "k3": 27.33, "k4": 7.31, "overall": 28.31},
        "Random": {"k2": 25.81, "k3": 11.33, "k4": 1.35, "overall": 13.84},
    },
}

# (metric key, column title, is a share/correlation shown in percent)
COLUMNS: dict[str, list[tuple[str, str, bool]]] = {
    "pairwise": [
        ("accuracy", "acc. with ties (tie-calibrated)", True),
        ("epsilon", "epsilon", False),
        ("accuracy_without_ties", "acc. without ties", True),
        ("pairs", "pairs", False),
    ],
    "rating": [("spearman", "Spearman (Fisher-z mean over models)", True), ("items", "edits", False)],
    "ranking": [
        ("k2", "K=2 (with ties)", True),
        ("k3", "K=3 (ranking)", True),
        ("k4", "K=4 (ranking)", True),
        ("overall", "overall", True),
        ("epsilon", "epsilon (K=2)", False),
    ],
}


def cell(value: object, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{100 * value:.2f}" if percent else f"{value:.4g}"
    return str(value)


def markdown(results: Mapping[str, Mapping[str, object]], published: bool = True) -> str:
    """results: {benchmark: {"kind": ..., "path": ..., "judges": {label: metrics}}}."""
    out = []
    for name, result in results.items():
        columns = COLUMNS[str(result["kind"])]
        out.append(f"### {name}\n")
        out.append(f"`{result['path']}`: {result['items']} items\n")
        out.append("| judge | " + " | ".join(title for _, title, _ in columns) + " | unscored |")
        out.append("| --- |" + " --- |" * (len(columns) + 1))
        for label, metrics in result["judges"].items():  # type: ignore[union-attr]
            cells = [cell(metrics.get(key), pct) for key, _, pct in columns]
            out.append(f"| {label} | " + " | ".join(cells) + f" | {metrics.get('unscored', 0)} |")
        if published and name in PUBLISHED:
            for system, values in PUBLISHED[name].items():
                cells = [
                    (f"{values[key]:.2f}" if values.get(key) is not None else "–") if key in values else ""
                    for key, _, _ in columns
                ]
                out.append(f"| *{system} (published, not measured here)* | " + " | ".join(cells) + " |  |")
        out.append("")
        if published and name in PUBLISHED:
            out.append(f"Published rows: {PUBLISHED_SOURCE}, on the full benchmark.\n")
    return "\n".join(out)


def as_json(results: Mapping[str, Mapping[str, object]], published: bool = True) -> dict[str, object]:
    body: dict[str, object] = {"benchmarks": results}
    if published:
        body["published_not_measured"] = {"source": PUBLISHED_SOURCE, "figures": PUBLISHED}
    return body
