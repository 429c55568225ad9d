"""The YAML config and the flags generated from it."""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import Literal

import pytest

from training import ConfigError, TrainConfig, load_config
from training.cli import register
from training.flags import given_flags, without_none

from .helpers import TINY_CONFIG

PAPER_CONFIG = TINY_CONFIG.with_name("paper.yaml")
BASE = "preset: tiny\nmanifest: m.jsonl\nout: runs/x\n"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["train", *argv])


def test_every_config_key_is_a_flag():
    values = load_config(TINY_CONFIG, {"manifest": "m.jsonl", "out": "runs/x"})
    for name, field in TrainConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        value = getattr(values, name)
        if value is None and typing.get_origin(without_none(field.annotation)) is Literal:
            value = typing.get_args(without_none(field.annotation))[0]  # "None" is no choice
        argv = [flag] if field.annotation is bool else [flag, str(value)]
        assert name in given_flags(parse(*argv), TrainConfig), flag


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path):
    args = parse(
        "--config", str(TINY_CONFIG), "--manifest", "m.jsonl", "--out", "runs/x",
        "--max-steps", "7", "--learning-rate", "3e-4", "--no-random-flip", "--ema",
    )  # fmt: skip
    config = load_config(args.config, given_flags(args, TrainConfig))
    assert config.max_steps == 7 and config.learning_rate == 3e-4  # flags
    assert config.random_flip is False and config.ema is True
    assert config.preset == "tiny" and config.resolution == 32  # tiny.yaml
    assert config.weight_decay == 1e-2 and config.lr_scheduler == "constant"  # defaults (the paper's)
    assert config.manifest == Path("m.jsonl")


def test_contract_flags_alone_make_a_config():
    args = parse(
        "--manifest", "m.jsonl", "--init", "models/ip2p", "--out", "runs/x", "--max-steps", "5",
        "--resolution", "64", "--batch-size", "3", "--seed", "9",
    )  # fmt: skip
    config = load_config(None, given_flags(args, TrainConfig))
    assert (config.init, config.max_steps, config.resolution, config.batch_size, config.seed) == (
        Path("models/ip2p"), 5, 64, 3, 9,
    )  # fmt: skip


def test_paper_config_holds_the_paper_recipe():
    config = load_config(PAPER_CONFIG, {"manifest": "m.jsonl", "init": "ip2p", "out": "runs/paper"})
    assert (config.learning_rate, config.weight_decay, config.lr_warmup_steps) == (5e-5, 1e-2, 0)
    assert (config.resolution, config.batch_size, config.gradient_accumulation_steps) == (256, 4, 4)
    assert config.mixed_precision == "fp16" and config.gradient_checkpointing and config.ema


@pytest.mark.parametrize(
    ("yaml_text", "overrides", "message"),
    [
        (BASE + "max_step: 5\n", {}, r"max_step \(--max-step\): Extra inputs are not permitted"),
        (BASE, {"max_steps": "0"}, r"max_steps \(--max-steps\): Input should be greater than 0"),
        (BASE, {"resolution": "36"}, r"resolution \(--resolution\): Input should be a multiple of 8"),
        (BASE, {"reward_dropout": "1.5"}, r"reward_dropout .*less than or equal to 1"),
        (BASE, {"preset": None, "init": None}, r"exactly one of 'init' .* and 'preset'"),
        (BASE, {"init": "ckpt"}, r"exactly one of 'init'"),
        (BASE, {"cache_encodings": "true"}, r"cache_encodings needs fixed crops"),
        (BASE, {"cache_encodings": "true", "center_crop": "true"}, r"random_flip off"),
        (BASE, {"encoding_cache_file": "x.pt"}, r"encoding_cache_file needs cache_encodings"),
        (BASE, {"mixed_precision": "fp8"}, r"mixed_precision .*'no', 'fp16' or 'bf16'"),
        (BASE, {"timestep_sampling": "late"}, r"timestep_sampling .*'uniform' or 'noisy'"),
        ("- a list\n", {}, r"must be a mapping"),
    ],
)
def test_bad_config_is_refused_naming_the_key(tmp_path, yaml_text, overrides, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides)


@pytest.mark.parametrize("path", sorted(TINY_CONFIG.parent.glob("*.yaml")), ids=lambda path: path.name)
def test_every_shipped_config_is_valid(path):
    starting_point = {} if "preset:" in path.read_text() else {"init": "checkpoint"}
    config = load_config(path, {"manifest": "m.jsonl", "out": "runs/x", **starting_point})
    assert config.max_steps > 0
