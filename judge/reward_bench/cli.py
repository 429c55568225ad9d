"""`rewardedit eval-reward`: several judges on the field's reward benchmarks, side by side."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from rewardedit.console import fail

EXIT_ITEMS_FAILED = 1
RESULTS_JSON, RESULTS_MD, SCORES_JSONL = "reward_bench.json", "reward_bench.md", "scores.jsonl"


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..cli import add_judge_arguments
    from ..select import BY_OVERALL, BY_SCORE
    from .run import LOADERS

    parser = subparsers.add_parser(
        "eval-reward",
        help="measure judges on reward benchmarks (GenAI-Bench, AURORA-Bench, ImagenHub, EditReward-Bench)",
        description="Scores every candidate edit of each benchmark with each judge (one number per edit, "
        "as `select` ranks edits), then reports tie-calibrated pairwise accuracy (GenAI-Bench, "
        "AURORA-Bench), Spearman per editing model pooled with Fisher's z (ImagenHub), and K=2/3/4 and "
        f"overall accuracy (EditReward-Bench); one table per benchmark in OUT/{RESULTS_MD} and "
        f"OUT/{RESULTS_JSON}, every score in OUT/{SCORES_JSONL}.",
    )
    parser.add_argument(
        "--benchmark", action="append", required=True, metavar="NAME=PATH",
        help=f"a benchmark file or folder in its published layout; NAME: {', '.join(LOADERS)} (repeatable)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables and scores")
    parser.add_argument("--limit", type=int, help="only the first N items of each benchmark (a quick look)")
    parser.add_argument(
        "--by", choices=(BY_SCORE, BY_OVERALL),
        help=f"each edit's number: {BY_SCORE}, the weighted mean of the three 0-5 scores; {BY_OVERALL}, "
        "EditReward's overall mu; default per judge: overall where editreward judges following and "
        "quality, else score",
    )  # fmt: skip
    parser.add_argument(
        "--weights", type=float, nargs=3, default=[1.0, 1.0, 1.0], metavar=("F", "P", "Q"),
        help="weights of following, preserving and quality for --by score",
    )  # fmt: skip
    parser.add_argument("--no-published", action="store_true", help="leave out the published reference rows")
    add_judge_arguments(parser, many=True)
    parser.set_defaults(func=eval_reward_command)


def parse_benchmarks(values: list[str]) -> list[tuple[str, Path]]:
    pairs = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--benchmark takes NAME=PATH, got {value!r}")
        pairs.append((name, Path(path)))
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("each --benchmark NAME may be given once")
    return pairs


def eval_reward_command(args: argparse.Namespace) -> int:
    from model.rewards import PERSPECTIVES

    from ..cli import judge_options
    from ..errors import InputFileError, JudgeRequestError
    from ..registry import create_judge, judge_assignment
    from ..select import BY_OVERALL, default_by
    from .report import as_json, markdown
    from .run import load_benchmark, measure, score_candidates

    weights = dict(zip(PERSPECTIVES, args.weights, strict=True))
    if min(weights.values()) < 0 or sum(weights.values()) <= 0:
        return fail("--weights must be non-negative with a positive sum")
    if args.limit is not None and args.limit < 1:
        return fail("--limit must be at least 1")
    specs = list(dict.fromkeys(args.judge))
    named: list[tuple[str, Path]] = []
    try:
        for spec in specs:
            judge_assignment(spec)
            if args.by == BY_OVERALL and default_by(spec) != BY_OVERALL:
                raise ValueError(f"--by overall needs editreward to judge following and quality ({spec!r})")
        named = parse_benchmarks(args.benchmark)
        benchmarks = [load_benchmark(name, path, args.limit) for name, path in named]
    except (ValueError, InputFileError) as exc:
        return fail(str(exc))

    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, object]] = {
        b.name: {"kind": b.kind, "path": str(path), "items": len(b.items), "judges": {}}
        for b, (_, path) in zip(benchmarks, named, strict=True)
    }
    failed = 0
    with (args.out / SCORES_JSONL).open("w", encoding="utf-8") as scores_file:
        for spec in specs:
            by = args.by or default_by(spec)
            try:
                judge = create_judge(spec, judge_options(args))
                scored = score_candidates(
                    judge, benchmarks, by, weights, args.concurrency, f"judging ({spec})"
                )
            except (ValueError, InputFileError, JudgeRequestError) as exc:
                return fail(f"{spec}: {exc}")
            failed += len(scored.errors)
            label = f"{spec} ({by})"
            for benchmark in benchmarks:
                results[benchmark.name]["judges"][label] = measure(benchmark, scored.scores)  # type: ignore[index]
            for (name, n, i), score in sorted(scored.scores.items()):
                record = {
                    "judge": spec,
                    "by": by,
                    "benchmark": name,
                    "item": n,
                    "candidate": i,
                    "score": score,
                }
                scores_file.write(json.dumps(record) + "\n")

    published = not args.no_published
    (args.out / RESULTS_JSON).write_text(
        json.dumps(_no_nan(as_json(results, published)), indent=1) + "\n", encoding="utf-8"
    )
    table = markdown(results, published)
    (args.out / RESULTS_MD).write_text(table, encoding="utf-8")
    print(table, end="")
    if failed:
        print(f"{failed} edits could not be judged (see the warnings above); their items are left out")
        return EXIT_ITEMS_FAILED
    return 0


def _no_nan(value: object) -> object:
    """NaN (an undefined correlation, no pairs) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _no_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(item) for item in value]
    return value
