"""`rewardedit synth-data` and `rewardedit synth-benchmark`: the synthetic editing world on disk."""

from __future__ import annotations

import argparse
from pathlib import Path

from .targets import TARGETS


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "synth-data", help="write noisy, oracle-labelled synthetic edit triplets and their manifest"
    )
    benchmark = subparsers.add_parser(
        "synth-benchmark", help="write a synthetic benchmark (seven categories) for `eval --judge oracle`"
    )
    captions = subparsers.add_parser(
        "synth-captions",
        help="write captioned synthetic scenes (text-to-image rows from a blank source) for pretraining",
    )
    for parser, default_count in ((data, 2000), (benchmark, 504), (captions, 2000)):
        parser.add_argument("--out", type=Path, required=True, help="folder to write")
        parser.add_argument("--count", type=int, default=default_count, help="how many edits")
        parser.add_argument("--seed", type=int, default=0, help="everything is reproducible from it")
        parser.add_argument("--size", type=int, default=64, help="image side in pixels (multiple of 8)")
    for parser in (data, captions):
        parser.add_argument("--workers", type=int, default=1, help="processes writing items (the same files)")
    data.add_argument(
        "--exact",
        action="store_true",
        help="write each scene's exact edit, no simulated failure (labels then score 5 throughout)",
    )
    data.add_argument(
        "--mix",
        type=parse_mix,
        default=None,
        metavar="CATEGORY=WEIGHT,...",
        help="weight the categories in the data, e.g. local=4,remove=4 (unnamed ones weigh 1; "
        "default: all equal)",
    )
    data.set_defaults(func=data_command)
    ceiling = subparsers.add_parser(
        "synth-ceiling",
        help="oracle-judge each benchmark item's exact (or noisy) edit after a round trip through a VAE",
    )
    ceiling.add_argument(
        "--model", type=Path, help="checkpoint folder whose VAE to use (default: judge the pixels as drawn)"
    )
    ceiling.add_argument("--benchmark", type=Path, required=True, help="synth benchmark folder")
    ceiling.add_argument("--out", type=Path, required=True, help="folder for images and results, as `eval`")
    ceiling.add_argument(
        "--targets",
        choices=TARGETS,
        default="exact",
        help="the ground truth; a noisy target drawn as the training data draws it (a perfect model "
        "without rewards); or one the labeller scored 5/5/5 (a perfect model asked for 5/5/5)",
    )
    ceiling.add_argument("--seed", type=int, default=0, help="draws the noisy targets")
    ceiling.set_defaults(func=ceiling_command)
    benchmark.set_defaults(func=benchmark_command)
    captions.set_defaults(func=captions_command)


def parse_mix(text: str) -> dict[str, int]:
    """`local=4,remove=4` -> {"local": 4, "remove": 4}; `category_cycle` checks the names and weights."""
    from .generate import category_cycle

    mix: dict[str, int] = {}
    for part in text.split(","):
        category, _, weight = part.partition("=")
        if not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f"{category.strip()}: the weight must be a whole number, got {weight!r}"
            )
        mix[category.strip()] = int(weight)
    try:
        category_cycle(mix)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return mix


def check(args: argparse.Namespace) -> str | None:
    if args.count < 1:
        return "--count must be at least 1"
    if args.size < 64 or args.size % 8:
        return "--size must be a multiple of 8, at least 64"
    if getattr(args, "workers", 1) < 1:
        return "--workers must be at least 1"
    return None


def data_command(args: argparse.Namespace) -> int:
    from judge.report import score_distribution
    from rewardedit.console import fail

    from .generate import MANIFEST_FILE, write_dataset

    if problem := check(args):
        return fail(problem)
    rows = write_dataset(args.out, args.count, args.seed, args.size, args.workers, args.exact, args.mix)
    print(score_distribution([row.rewards for row in rows if row.rewards is not None]))
    print(f"wrote {args.out / MANIFEST_FILE}: {len(rows)} triplets")
    return 0


def captions_command(args: argparse.Namespace) -> int:
    from rewardedit.console import fail

    from .generate import MANIFEST_FILE, write_captions

    if problem := check(args):
        return fail(problem)
    rows = write_captions(args.out, args.count, args.seed, args.size, args.workers)
    print(f"wrote {args.out / MANIFEST_FILE}: {len(rows)} captioned scenes")
    return 0


def benchmark_command(args: argparse.Namespace) -> int:
    from judge.benchmark import BENCHMARK_FILE
    from rewardedit.console import fail

    from .generate import write_benchmark

    if problem := check(args):
        return fail(problem)
    items = write_benchmark(args.out, args.count, args.seed, args.size)
    print(f"wrote {args.out / BENCHMARK_FILE}: {len(items)} edits")
    return 0


def ceiling_command(args: argparse.Namespace) -> int:
    from judge.errors import InputFileError
    from judge.evaluate import RESULTS_MARKDOWN
    from model import CheckpointError
    from rewardedit.console import fail

    from .ceiling import evaluate_ceiling

    try:
        evaluate_ceiling(args.model, args.benchmark, args.out, args.targets, args.seed)
    except (InputFileError, CheckpointError) as exc:
        return fail(str(exc))
    print((args.out / RESULTS_MARKDOWN).read_text(encoding="utf-8"), end="")
    return 0
