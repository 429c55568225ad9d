"""`rewardedit reward-score`, `reward-calibrate`, `reward-make-model` and `reward-bench`: EditReward
from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rewardedit.console import fail

from .calibration import CALIBRATION_FILE, DEFAULT_PASS_SCORE
from .shapes import SHAPES


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reward-model", type=Path, required=True, help="EditReward checkpoint folder (model.safetensors)"
    )
    parser.add_argument(
        "--base-model",
        type=Path,
        help="its base model folder: config, tokenizer, chat template, preprocessor config "
        "(e.g. Qwen2.5-VL-7B-Instruct; default: the checkpoint folder)",
    )
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")


def register(subparsers: argparse._SubParsersAction) -> None:
    score = subparsers.add_parser(
        "reward-score",
        help="score an edit with an EditReward checkpoint",
        description="Prints each head's mean mu and their mean, as the released inferencer computes them "
        "(unbounded; typically -3 to 2).",
    )
    score.add_argument("source", type=Path, metavar="SOURCE", help="the original image")
    score.add_argument("edited", type=Path, metavar="EDITED", help="the edited image")
    score.add_argument("--instruction", required=True, help="the editing instruction")
    add_model_arguments(score)
    score.add_argument(
        "--json",
        action="store_true",
        help='print {"instruction_following", "visual_quality", "overall"} as one JSON object',
    )
    score.set_defaults(func=score_command)

    calibrate = subparsers.add_parser(
        "reward-calibrate",
        help="fit the map from EditReward's mu to 0-5 scores and verdicts",
        description="With a labelled MANIFEST: isotonic regression of its scores on mu, the verdict "
        "threshold at the best balanced accuracy. With --reference: MANIFEST's edits need no labels; "
        "mu's quantiles are matched to the reference manifest's scores. Scores are cached like `label`.",
    )
    calibrate.add_argument("manifest", type=Path, metavar="MANIFEST", help="edits to score (.jsonl)")
    calibrate.add_argument(
        "--reference",
        type=Path,
        metavar="MANIFEST",
        help="labelled manifest whose score distribution to match",
    )
    calibrate.add_argument(
        "--pass-score",
        type=float,
        default=DEFAULT_PASS_SCORE,
        help="labels at or above this pass (the verdict's truth)",
    )
    calibrate.add_argument(
        "--out",
        type=Path,
        help=f"calibration file (default: REWARD_MODEL/{CALIBRATION_FILE}, where judges find it)",
    )
    add_model_arguments(calibrate)
    calibrate.add_argument("--batch-size", type=int, default=4, help="edits per forward pass")
    calibrate.add_argument("--concurrency", type=int, default=8, help="edits in flight (batched together)")
    calibrate.add_argument("--cache-dir", type=Path, help="score cache (default: the judges' cache)")
    calibrate.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    calibrate.set_defaults(func=calibrate_command)

    make = subparsers.add_parser(
        "reward-make-model",
        help="write a tiny random EditReward model offline: OUT/base and OUT/reward (for trying things)",
        description="The released layouts with random weights: a base folder (config, tokenizer, chat "
        "template, image settings, weights under the pre-4.52 names) and a reward checkpoint "
        "(model.safetensors under the 4.57 names). Its scores mean nothing.",
    )
    make.add_argument("out", type=Path, metavar="OUT")
    make.add_argument("--seed", type=int, default=0)
    make.set_defaults(func=make_command)

    bench = subparsers.add_parser(
        "reward-bench",
        help="time EditReward scoring on a random model of the real shapes (tiny on CPU, 7b on a GPU)",
        description="Builds a random EditReward-shaped model on the device (no weights needed), scores "
        "batches of 448x448 edits and prints seconds per candidate, candidates per second and, on "
        "CUDA, GPU memory, alone and beside the sd15 editor (--editor sd15).",
    )
    bench.add_argument("--shape", choices=SHAPES, default="tiny")
    bench.add_argument(
        "--base-model", type=Path, help="take config and tokenizer from this base folder instead of --shape"
    )
    bench.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    bench.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    bench.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4], metavar="N")
    bench.add_argument("--runs", type=int, default=5, help="timed runs per batch size")
    bench.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    bench.add_argument(
        "--editor", choices=("none", "tiny", "sd15"), default="none", help="editor to load beside it"
    )
    bench.add_argument("--editor-steps", type=int, default=30, help="steps of the editor's timed 512 px edit")
    bench.add_argument("--json", type=Path, help="also write the report as JSON")
    bench.set_defaults(func=bench_command)


def score_command(args: argparse.Namespace) -> int:
    from model import InvalidInputError
    from model.image import load_image

    from . import EditRewardScorer, EditToScore, UnscorableEditError
    from .base_folder import BaseFolderError
    from .checkpoint import RewardCheckpointError

    try:
        # The files' pixels as stored, as the release opens them (no EXIF rotation, unlike the judges).
        edit = EditToScore(load_image(args.source), load_image(args.edited), args.instruction)
        scorer = EditRewardScorer.from_pretrained(args.reward_model, args.base_model, args.device)
        (scores,) = scorer.score([edit])
    except (InvalidInputError, BaseFolderError, RewardCheckpointError, UnscorableEditError) as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(scores.to_dict()))
    else:
        for name, value in scores.to_dict().items():
            print(f"{name}: {value:.4f}")
    return 0


def calibrate_command(args: argparse.Namespace) -> int:
    from ..cache import default_cache_dir
    from ..errors import InputFileError, JudgeRequestError
    from .calibrate import calibrate
    from .calibration import CalibrationError

    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    out = args.out or args.reward_model / CALIBRATION_FILE
    try:
        report = calibrate(args, cache_dir, out)
    except (ValueError, InputFileError, JudgeRequestError) as exc:  # CalibrationError and load errors too
        kind = "cannot calibrate" if isinstance(exc, CalibrationError) else "error"
        return fail(f"{kind}: {exc}")
    print(report)
    print(f"wrote {out}")
    return 0


def make_command(args: argparse.Namespace) -> int:
    from .random_model import write_random_editreward

    base, reward = write_random_editreward(args.out, args.seed)
    print(f"wrote {base} (--base-model) and {reward} (--reward-model)")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    from .bench import format_report, run_bench

    if min(args.batch_sizes) < 1 or args.runs < 1 or args.warmup < 0:
        return fail("--batch-sizes and --runs must be at least 1, --warmup at least 0")
    report = run_bench(args)
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0
