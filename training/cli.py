"""`rewardedit train`, `rewardedit train-vae` and `rewardedit import-rewardedit20k`."""

from __future__ import annotations

import argparse
from pathlib import Path

from accelerate import PartialState

from model import CheckpointError, InvalidInputError
from rewardedit.console import fail

from .autoencoder import AutoencoderConfig, train_autoencoder
from .config import ConfigError, TrainConfig, load_config
from .flags import add_model_flags, given_flags
from .manifest import ManifestError
from .rewardedit20k import import_rewardedit20k
from .trainer import train


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="fine-tune a reward-conditioned model on a manifest (runs under `accelerate launch` too)",
        description="Every config key is also a flag; flags override the --config file.",
    )
    train.add_argument("--config", type=Path, default=None, metavar="FILE.yaml", help="YAML training config")
    add_model_flags(train, TrainConfig)
    train.set_defaults(func=train_command)

    train_vae = subparsers.add_parser(
        "train-vae",
        help="pretrain a checkpoint's VAE as an autoencoder on a manifest's images (before `train --init`)",
        description="Trains only the VAE and writes the whole checkpoint folder, ready for `train --init`.",
    )
    add_model_flags(train_vae, AutoencoderConfig)
    train_vae.set_defaults(func=train_vae_command)

    importer = subparsers.add_parser(
        "import-rewardedit20k", help="write a training manifest from the RewardEdit-20K release layout"
    )
    importer.add_argument("--images", type=Path, required=True, help="folder of the sample folders")
    importer.add_argument("--rewards", type=Path, required=True, help="RewardEdit-20K rewards JSON")
    importer.add_argument("--out", type=Path, required=True, help="manifest to write (.jsonl)")
    importer.add_argument(
        "--skip-invalid", action="store_true", help="leave out sample folders that are missing or broken"
    )
    importer.set_defaults(func=import_command)


def train_command(args: argparse.Namespace) -> int:
    try:
        final = train(load_config(args.config, given_flags(args, TrainConfig)))
    except (ConfigError, ManifestError, CheckpointError) as exc:
        return fail(str(exc))
    if PartialState().is_main_process:
        print(f"wrote {final}")
    return 0


def train_vae_command(args: argparse.Namespace) -> int:
    try:
        final = train_autoencoder(load_config(None, given_flags(args, AutoencoderConfig), AutoencoderConfig))
    except (ConfigError, ManifestError, CheckpointError, InvalidInputError) as exc:
        return fail(str(exc))
    print(f"wrote {final}")
    return 0


def import_command(args: argparse.Namespace) -> int:
    try:
        result = import_rewardedit20k(args.images, args.rewards, args.out, skip_invalid=args.skip_invalid)
    except ManifestError as exc:
        return fail(str(exc))
    print(f"wrote {result.written} samples to {result.manifest} ({result.skipped} skipped)")
    return 0
