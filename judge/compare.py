"""`rewardedit compare`: set several `eval` results side by side, averaged over seeds with their spread.

Each variant is a name and the `eval` output folders of its runs (one per training seed, say); a
cell is the mean over those runs and, with two or more, the sample standard deviation. Given a
baseline, the runs are also paired in the order given (seed i against seed i): a paired difference
removes what the seeds share, which the spread of two means cannot.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputFileError
from .evaluate import RESULTS_JSON
from .judgement import PERSPECTIVES
from .report import ALL


@dataclass(frozen=True)
class Variant:
    name: str
    runs: tuple[Path, ...]


def parse_variant(text: str) -> Variant:
    """NAME=DIR[,DIR...] -> Variant; ValueError names what is wrong."""
    name, sep, folders = text.partition("=")
    runs = tuple(Path(f) for f in folders.split(",") if f)
    if not sep or not name or not runs:
        raise ValueError(f"{text!r}: expected NAME=DIR[,DIR...]")
    return Variant(name, runs)


def load_tables(variant: Variant) -> list[dict]:
    tables = []
    for run in variant.runs:
        path = run / RESULTS_JSON
        try:
            tables.append(json.loads(path.read_text(encoding="utf-8"))["table"])
        except (OSError, ValueError, KeyError) as exc:
            raise InputFileError(f"{path}: not an `eval` result ({exc})") from exc
    return tables


def fixed(value: float, digits: int, sign: str = "") -> str:
    """`value` to `digits` decimals; one that rounds to zero from below prints as 0, not -0.

    Adding 0.0 turns the -0.0 that rounding leaves into 0.0. `sign` "+" marks positives too.
    """
    return f"{round(value, digits) + 0.0:{sign}.{digits}f}"


def spread(values: Sequence[float], percent: bool) -> str:
    """Mean, and "± sample standard deviation" when there are two runs or more; "-" for none."""
    if not values:
        return "-"
    scale, digits = (100.0, 1) if percent else (1.0, 2)
    mean = fixed(statistics.fmean(values) * scale, digits)
    if len(values) < 2:
        return mean
    return f"{mean} ± {fixed(statistics.stdev(values) * scale, digits)}"


def cell_values(tables: list[dict], category: str, perspective: str, what: str) -> list[float]:
    return [
        t[category][perspective][what]
        for t in tables
        if t.get(category, {}).get(perspective, {}).get(what) is not None
    ]


def comparison_markdown(variants: Sequence[Variant], baseline: str | None = None) -> str:
    """An overall table (yes-rate % and mean score per perspective), then yes-rate per category.

    With `baseline` (a variant's name), then each other variant's yes-rate minus the baseline's,
    run by run: overall with every run's difference, and per category.
    """
    loaded = [(v, load_tables(v)) for v in variants]
    header = " | ".join(f"{p} yes % | {p} score" for p in PERSPECTIVES)
    lines = [
        "| variant | runs | " + header + " |",
        "|---" * (2 + 2 * len(PERSPECTIVES)) + "|",
    ]
    for variant, tables in loaded:
        cells = []
        for p in PERSPECTIVES:
            cells.append(spread(cell_values(tables, ALL, p, "accuracy"), percent=True))
            cells.append(spread(cell_values(tables, ALL, p, "mean_score"), percent=False))
        lines.append(f"| {variant.name} | {len(tables)} | " + " | ".join(cells) + " |")
    categories = [c for c in loaded[0][1][0] if c != ALL] if loaded and loaded[0][1] else []
    for p in PERSPECTIVES:
        lines += ["", f"{p}: yes-rate % per category", ""]
        lines.append("| variant | " + " | ".join(categories) + " |")
        lines.append("|---" * (1 + len(categories)) + "|")
        for variant, tables in loaded:
            cells = [spread(cell_values(tables, c, p, "accuracy"), percent=True) for c in categories]
            lines.append(f"| {variant.name} | " + " | ".join(cells) + " |")
    if baseline is not None:
        lines += paired_markdown(loaded, baseline, categories)
    return "\n".join(lines) + "\n"


def paired_markdown(
    loaded: list[tuple[Variant, list[dict]]], baseline: str, categories: list[str]
) -> list[str]:
    """Yes-rate differences (points) of each variant's run i minus the baseline's run i."""
    by_name = {v.name: tables for v, tables in loaded}
    if baseline not in by_name:
        raise ValueError(f"--paired-with {baseline!r}: no variant of that name")
    base = by_name[baseline]
    paired = [(v, tables) for v, tables in loaded if v.name != baseline and len(tables) == len(base)]

    def differences(tables: list[dict], category: str, perspective: str) -> list[float]:
        ours, theirs = (cell_values(t, category, perspective, "accuracy") for t in (tables, base))
        return [a - b for a, b in zip(ours, theirs, strict=True)] if len(ours) == len(theirs) else []

    lines = [
        "",
        f"paired by run, yes-rate points minus {baseline} (each run, then mean ± sd); "
        f"variants with another number of runs are left out",
        "",
        "| variant | " + " | ".join(PERSPECTIVES) + " | runs better on all three |",
        "|---" * (2 + len(PERSPECTIVES)) + "|",
    ]
    for variant, tables in paired:
        per_perspective = [differences(tables, ALL, p) for p in PERSPECTIVES]
        cells = [
            ", ".join(fixed(d * 100, 1, "+") for d in diffs) + f" ({spread(diffs, percent=True)})"
            for diffs in per_perspective
        ]
        wins = sum(all(d > 0 for d in run) for run in zip(*per_perspective, strict=True))
        lines.append(f"| {variant.name} | " + " | ".join(cells) + f" | {wins} / {len(tables)} |")
    for p in PERSPECTIVES:
        lines += ["", f"{p}: paired yes-rate points minus {baseline}, per category", ""]
        lines.append("| variant | " + " | ".join(categories) + " |")
        lines.append("|---" * (1 + len(categories)) + "|")
        for variant, tables in paired:
            cells = [spread(differences(tables, c, p), percent=True) for c in categories]
            lines.append(f"| {variant.name} | " + " | ".join(cells) + " |")
    return lines
