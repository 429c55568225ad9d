"""`rewardedit train-reward` and `rewardedit synth-pairs`."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from rewardedit.console import fail
from training.config import ConfigError, load_config
from training.flags import add_model_flags, given_flags

from .config import RewardTrainConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train-reward",
        help="train an EditReward-shaped reward model on preference pairs (`accelerate launch` too)",
        description="Every config key is also a flag; flags override the --config file. Checkpoints are "
        "EditReward checkpoints: `reward-score --reward-model OUT/final` scores with one.",
    )
    train.add_argument("--config", type=Path, default=None, metavar="FILE.yaml", help="YAML config")
    add_model_flags(train, RewardTrainConfig)
    train.set_defaults(func=train_command)

    pairs = subparsers.add_parser(
        "synth-pairs",
        help="write preference pairs from the synthetic world in EditReward's training-JSON format",
        description="Two noisy edits of one item; the oracle's following (dim1) and quality (dim2) "
        "scores decide, overall is their sum; ties are kept and marked (tie_case).",
    )
    pairs.add_argument("--out", type=Path, required=True, help="folder to write (OUT/pairs.json, OUT/images)")
    pairs.add_argument("--count", type=int, default=2000, help="how many pairs")
    pairs.add_argument("--seed", type=int, default=0, help="everything is reproducible from it")
    pairs.add_argument("--size", type=int, default=64, help="image side in pixels (multiple of 8)")
    pairs.set_defaults(func=pairs_command)

    vision = subparsers.add_parser(
        "pretrain-reward-vision",
        help="pretrain a from-scratch reward model's vision tower on images alone (a base VLM's stand-in)",
        description="Writes a base folder for `train-reward --base-model OUT` (with "
        "--freeze-vision-tower): the shape's files, its random language model and a vision tower "
        "trained to tell each image token's colours, spread, edges and distinct colours. No labels.",
    )
    vision.add_argument(
        "--images", type=Path, required=True, help="folder of images, e.g. synth-pairs' OUT/images"
    )
    vision.add_argument("--out", type=Path, required=True, help="base folder to write")
    vision.add_argument("--shape", choices=("tiny", "small"), default="small", help="model shape")
    vision.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    vision.add_argument("--batch-size", type=int, default=64, help="images per step")
    vision.add_argument("--learning-rate", type=float, default=1e-3, help="AdamW learning rate")
    vision.add_argument("--heldout", type=int, default=500, help="images held out to measure R^2 on")
    vision.add_argument("--eval-every", type=int, default=200, help="measure R^2 every N steps")
    vision.add_argument("--seed", type=int, default=0, help="seed of the weights, the split and the batches")
    vision.set_defaults(func=vision_command)


def train_command(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from judge.editreward.base_folder import BaseFolderError

    from .data import PairDataError
    from .model_init import ModelStartError
    from .trainer import TrainRewardError, train

    try:
        final = train(load_config(args.config, given_flags(args, RewardTrainConfig), RewardTrainConfig))
    except (ConfigError, PairDataError, ModelStartError, TrainRewardError, BaseFolderError) as exc:
        return fail(str(exc))
    if PartialState().is_main_process:
        print(f"wrote {final}")
    return 0


def pairs_command(args: argparse.Namespace) -> int:
    from .synth_pairs import tie_shares, write_pairs

    if args.count < 1:
        return fail("--count must be at least 1")
    if args.size < 64 or args.size % 8:
        return fail("--size must be a multiple of 8, at least 64")
    path = write_pairs(args.out, args.count, args.seed, args.size)
    shares = tie_shares(json.loads(path.read_text(encoding="utf-8")))
    print("ties: " + ", ".join(f"{name} {share:.0%}" for name, share in shares.items()))
    print(f"wrote {path}: {args.count} pairs")
    return 0


def vision_command(args: argparse.Namespace) -> int:
    from .vision_pretraining import LOG_FILE, VisionPretrainConfig, pretrain_vision

    for name in ("steps", "batch_size", "eval_every"):
        if getattr(args, name) < 1:
            return fail(f"--{name.replace('_', '-')} must be at least 1")
    if args.learning_rate <= 0:
        return fail("--learning-rate must be positive")
    # Every flag is a field of the config, under the same name.
    config = VisionPretrainConfig(
        **{field.name: getattr(args, field.name) for field in fields(VisionPretrainConfig)}
    )
    try:
        out = pretrain_vision(config)
    except ValueError as exc:
        return fail(str(exc))
    last = json.loads((out / LOG_FILE).read_text(encoding="utf-8").splitlines()[-1])
    print("held-out R^2: " + ", ".join(f"{name} {value:.2f}" for name, value in last["r2"].items()))
    print(f"wrote {out}: train-reward --base-model {out} --freeze-vision-tower")
    return 0
