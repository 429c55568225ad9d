"""`rewardedit label`, `eval`, `compare` and `select`; the EditReward commands live in editreward/cli.py."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from model.cli import add_sampling_arguments, add_scheduler_argument
from model.pipeline import default_device
from model.rewards import PERSPECTIVES, Rewards
from rewardedit.console import fail

from .cache import default_cache_dir
from .editreward.calibration import CALIBRATION_FILE
from .editreward.cli import register as register_editreward
from .judgement import Judge
from .registry import JudgeOptions, create_judge, judge_names
from .reward_bench.cli import register as register_reward_bench
from .select import BY_OVERALL, BY_SCORE, default_by

EXIT_ITEMS_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    label = subparsers.add_parser(
        "label",
        help="fill a manifest's rewards with a judge (resumable)",
        description="Lines already labelled in --out are kept; run the same command again to resume.",
    )
    label.add_argument("manifest", type=Path, metavar="MANIFEST", help="manifest to label (.jsonl)")
    label.add_argument(
        "--out", type=Path, required=True, metavar="MANIFEST", help="labelled manifest to write"
    )
    add_judge_arguments(label)
    label.set_defaults(func=label_command)

    evaluate = subparsers.add_parser(
        "eval", help="edit a benchmark with a checkpoint and report the judge's yes-rate and mean score"
    )
    evaluate.add_argument("--model", type=Path, required=True, help="checkpoint folder")
    evaluate.add_argument("--benchmark", type=Path, required=True, help="folder holding benchmark.json")
    evaluate.add_argument("--out", type=Path, required=True, help="folder for images, judgements, results")
    add_judge_arguments(evaluate)
    add_sampling_arguments(evaluate)
    evaluate.add_argument("--seed", type=int, default=0, help="seed of every item's edit")
    evaluate.add_argument("--reward-guidance-scale", type=float, default=1.0)
    add_scheduler_argument(evaluate)
    asked = evaluate.add_mutually_exclusive_group()
    asked.add_argument(
        "--score",
        type=float,
        nargs="+",
        default=[5.0],
        metavar="S",
        help="score asked of all three perspectives, or of following, preserving and quality in turn "
        "(reward texts 'None'; default 5)",
    )
    asked.add_argument(
        "--no-reward", action="store_true", help="ask for no reward: the model's learned null condition"
    )
    evaluate.add_argument("--max-side", type=int, default=512)
    evaluate.add_argument("--batch-size", type=int, default=8, help="edits of one size run together")
    evaluate.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    evaluate.set_defaults(func=eval_command)

    compare = subparsers.add_parser(
        "compare", help="set `eval` results side by side: mean and spread over each variant's runs"
    )
    compare.add_argument(
        "variants", nargs="+", metavar="NAME=DIR[,DIR...]", help="a variant and its runs' eval folders"
    )
    compare.add_argument("--out", type=Path, help="also write the Markdown tables to this file")
    compare.add_argument(
        "--paired-with",
        metavar="NAME",
        help="also each variant's yes-rates minus this one's, run i against run i (paired seeds)",
    )
    compare.set_defaults(func=compare_command)

    select = subparsers.add_parser(
        "select",
        help="keep a manifest's best rows by a judge's scores (resumable)",
        description="Judges every row (cached; judgements kept in SUBSET.scores.jsonl, so a rerun resumes), "
        "prints a histogram of the scores with the cut, and writes the kept rows to SUBSET.",
    )
    select.add_argument("manifest", type=Path, metavar="MANIFEST", help="manifest to select from (.jsonl)")
    select.add_argument("--out", type=Path, required=True, metavar="SUBSET", help="manifest of the kept rows")
    cut = select.add_mutually_exclusive_group(required=True)
    cut.add_argument("--top-k", type=int, metavar="N", help="keep the N best rows")
    cut.add_argument("--min-score", type=float, metavar="S", help="keep the rows scoring at least S")
    select.add_argument(
        "--by",
        choices=(BY_SCORE, BY_OVERALL),
        help=f"{BY_SCORE}: the weighted mean of the three 0-5 scores (--weights); {BY_OVERALL}: EditReward's "
        "overall mu, the mean of its two heads (as its authors selected data); default: overall when "
        "editreward judges following and quality, else score",
    )
    select.add_argument(
        "--weights", type=float, nargs=3, default=[1.0, 1.0, 1.0], metavar=("F", "P", "Q"),
        help="weights of following, preserving and quality for --by score",
    )  # fmt: skip
    add_judge_arguments(select)
    select.set_defaults(func=select_command)

    register_editreward(subparsers)
    register_reward_bench(subparsers)


def add_judge_arguments(parser: argparse.ArgumentParser, many: bool = False) -> None:
    """The judge flags; `many`: --judge may be repeated (and is required), the other flags shared."""
    group = parser.add_argument_group("judge")
    group.add_argument(
        "--judge",
        default=None if many else "openai",
        action="append" if many else "store",
        required=many,
        metavar="SPEC",
        help=f"judge backend ({', '.join(judge_names())}), or one per perspective, e.g. "
        "following=editreward,preserving=openai,quality=editreward (a bare NAME judges the rest)"
        + ("; repeat to compare judges" if many else ""),
    )
    group.add_argument("--base-url", help="OpenAI-compatible API root, e.g. https://api.openai.com/v1")
    group.add_argument("--judge-model", help="model name the endpoint serves, e.g. gpt-4o")
    group.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    group.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    group.add_argument("--max-retries", type=int, default=5, help="retries on 429, 5xx and timeouts")
    group.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="judgement cache")
    group.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    group.add_argument("--reward-model", type=Path, help="editreward: the EditReward checkpoint folder")
    group.add_argument(
        "--base-model", type=Path, help="editreward: its base model folder (default: the checkpoint folder)"
    )
    group.add_argument("--reward-device", help="editreward: cpu or cuda (default: cuda when available)")
    group.add_argument("--reward-batch-size", type=int, default=4, help="editreward: edits per forward pass")
    group.add_argument(
        "--calibration",
        type=Path,
        help=f"editreward: its mu -> 0-5 calibration (default: REWARD_MODEL/{CALIBRATION_FILE}, "
        "else an uncalibrated linear map)",
    )


def build_judge(args: argparse.Namespace) -> Judge:
    """The judge the flags describe; ValueError for a bad combination (e.g. openai without --base-url)."""
    return create_judge(args.judge, judge_options(args))


def judge_options(args: argparse.Namespace) -> JudgeOptions:
    """Everything the judge flags say, for any judge spec."""
    if not args.verbose:  # one INFO line per HTTP request would bury the progress bar
        logging.getLogger("httpx").setLevel(logging.WARNING)
    return JudgeOptions(
        base_url=args.base_url,
        model=args.judge_model,
        concurrency=args.concurrency,
        timeout=args.timeout,
        max_retries=args.max_retries,
        cache_dir=None if args.no_cache else args.cache_dir,
        reward_model=args.reward_model,
        base_model=args.base_model,
        device=args.reward_device,
        batch_size=args.reward_batch_size,
        calibration=args.calibration,
    )


def label_command(args: argparse.Namespace) -> int:
    from training.manifest import ManifestError

    from .errors import JudgeRequestError
    from .label import label_manifest
    from .report import score_distribution

    try:
        judge = build_judge(args)
    except ValueError as exc:
        return fail(str(exc))
    try:
        result = label_manifest(args.manifest, args.out, judge, args.concurrency)
    except (ManifestError, JudgeRequestError) as exc:
        return fail(f"{exc}\n(lines labelled so far are saved in {args.out}; rerun to resume)")
    labelled = [row.rewards for row in result.rows if row.rewards is not None]
    print(score_distribution(labelled))
    print(f"wrote {args.out}: {result.labelled} lines labelled now, {result.kept} kept from before")
    if result.failed:
        print(f"{result.failed} lines could not be labelled (see the errors above); rerun to retry them")
        return EXIT_ITEMS_FAILED
    return 0


def eval_command(args: argparse.Namespace) -> int:
    from model import CheckpointError, InvalidInputError

    from .errors import InputFileError, JudgeRequestError
    from .evaluate import RESULTS_MARKDOWN, EditSettings, evaluate
    from .prompts import PROMPT_VERSION

    try:
        judge = build_judge(args)
        rewards = None if args.no_reward else asked_rewards(args.score)
    except (ValueError, InvalidInputError) as exc:
        return fail(str(exc))
    settings = EditSettings(
        steps=args.steps,
        seed=args.seed,
        guidance_scale=args.guidance_scale,
        image_guidance_scale=args.image_guidance_scale,
        reward_guidance_scale=args.reward_guidance_scale,
        scheduler=args.scheduler,
        max_side=args.max_side,
        device=args.device or default_device(),
        rewards=rewards,
        batch_size=args.batch_size,
    )
    if settings.batch_size < 1:
        return fail("--batch-size must be at least 1")
    about = {
        "name": args.judge,
        "model": args.judge_model,
        "base_url": args.base_url,
        "prompt_version": PROMPT_VERSION,
        "reward_model": str(args.reward_model) if args.reward_model else None,
        "calibration": str(args.calibration) if args.calibration else None,
    }
    try:
        result = evaluate(args.model, args.benchmark, args.out, judge, args.concurrency, settings, about)
    except (InputFileError, CheckpointError, InvalidInputError, JudgeRequestError) as exc:
        return fail(str(exc))
    print((args.out / RESULTS_MARKDOWN).read_text(encoding="utf-8"), end="")
    if result.failed:
        print(f"{result.failed} items could not be judged (see the errors in judgements.jsonl)")
        return EXIT_ITEMS_FAILED
    return 0


def asked_rewards(scores: list[float]) -> Rewards:
    """`--score S` asks S of every perspective; `--score F P Q` asks each its own."""
    if len(scores) not in (1, len(PERSPECTIVES)):
        raise ValueError(f"--score takes one score or {len(PERSPECTIVES)}, got {len(scores)}")
    if len(scores) == 1:
        scores = scores * len(PERSPECTIVES)
    return Rewards(**dict(zip(PERSPECTIVES, scores, strict=True)))


def compare_command(args: argparse.Namespace) -> int:
    from .compare import comparison_markdown, parse_variant
    from .errors import InputFileError

    try:
        markdown = comparison_markdown([parse_variant(text) for text in args.variants], args.paired_with)
    except (ValueError, InputFileError) as exc:
        return fail(str(exc))
    if args.out is not None:
        args.out.write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    return 0


def select_command(args: argparse.Namespace) -> int:
    from training.manifest import ManifestError

    from .errors import InputFileError, JudgeRequestError
    from .select import Cut, histogram, scores_path, select_manifest

    try:
        by = args.by or default_by(args.judge)
        if by == BY_OVERALL and default_by(args.judge) != BY_OVERALL:
            raise ValueError("--by overall needs editreward to judge following and quality")
        cut = Cut(args.top_k, args.min_score)
        judge = build_judge(args)
    except ValueError as exc:
        return fail(str(exc))
    weights = dict(zip(PERSPECTIVES, args.weights, strict=True))
    if by == BY_SCORE and (min(weights.values()) < 0 or sum(weights.values()) <= 0):
        return fail("--weights must be non-negative with a positive sum")
    try:
        result = select_manifest(
            args.manifest, args.out, judge, args.judge, args.concurrency, cut, by, weights
        )
    except (ManifestError, InputFileError, JudgeRequestError) as exc:
        return fail(f"{exc}\n(judgements so far are saved in {scores_path(args.out)}; rerun to resume)")
    print(histogram(list(result.scores.values()), result.threshold, f"selection score ({by})"))
    how = f"top {args.top_k}" if args.top_k is not None else f"score >= {args.min_score:g}"
    print(f"wrote {args.out}: kept {len(result.kept)} of {result.total} rows ({how})")
    if result.failed:
        print(f"{result.failed} rows could not be judged (see the errors above); rerun to retry them")
        return EXIT_ITEMS_FAILED
    return 0
