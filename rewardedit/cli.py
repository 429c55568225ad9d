"""The `rewardedit` command: one entry point whose subcommands live next to the code they drive."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each module exposes `register(subparsers)`, adding its subcommands with `set_defaults(func=...)`.
COMMAND_MODULES = (
    "model.cli",
    "api.cli",
    "worker.cli",
    "training.cli",
    "judge.cli",
    "judge.reward_training.cli",
    "synth.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rewardedit", description="Reward-conditioned instruction-based image editing."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    sys.exit(args.func(args) or 0)
