"""`pretrain-reward-vision`: per-token statistics, and a base folder that `train-reward` starts from."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from judge.reward_training.config import RewardTrainConfig
from judge.reward_training.synth_pairs import write_pairs
from judge.reward_training.trainer import train
from judge.reward_training.vision_pretraining import (
    LOG_FILE,
    STATISTICS,
    VisionPretrainConfig,
    pretrain_vision,
    token_statistics,
)

from .helpers import rewardedit

RED, BLACK, WHITE = (255, 0, 0), (0, 0, 0), (255, 255, 255)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pairs(tmp_path_factory.mktemp("pairs"), 8, seed=5)


def test_each_tokens_statistics_describe_the_pixels_it_covers():
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    pixels[:2, :2] = RED  # token 0: flat red
    pixels[:2, 2] = BLACK  # token 1: a black column beside a white one
    pixels[:2, 3] = WHITE
    pixels[2:] = WHITE  # tokens 2 and 3: flat white
    stats = token_statistics(Image.fromarray(pixels), (1, 4, 4), merge=2)
    assert stats.shape == (4, len(STATISTICS))
    np.testing.assert_allclose(stats[0], [1, 0, 0, 0, 0, 0, 0, math.log(2)], atol=1e-6)
    # Means 0.5, spreads 0.5, each horizontal step 1 in every channel, no vertical step, 2 colours.
    np.testing.assert_allclose(stats[1], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, math.log(3)], atol=1e-6)
    np.testing.assert_allclose(stats[3], [1, 1, 1, 0, 0, 0, 0, math.log(2)], atol=1e-6)


def test_the_pretrained_tower_learns_its_statistics_and_train_reward_starts_from_it(pairs, tmp_path):
    base = tmp_path / "base"
    images = pairs.parent / "images"
    pretrain_vision(VisionPretrainConfig(images, base, steps=8, batch_size=8, heldout=4, eval_every=4))
    log = [json.loads(line) for line in (base / LOG_FILE).read_text().splitlines()]
    assert [line["step"] for line in log] == [0, 4, 8]
    means = [np.mean([line["r2"][name] for name in STATISTICS[:3]]) for line in log]
    assert means[-1] > means[0] + 0.2  # the colour means are the quickest to learn
    pretrained = load_file(str(base / "model.safetensors"))
    run = train(
        RewardTrainConfig(
            train_pairs=pairs,
            base_model=base,
            out=tmp_path / "run",
            freeze_vision_tower=True,
            max_steps=1,
            batch_size=2,
            gradient_accumulation_steps=1,
            loss="bt",
            learning_rate=1e-3,
        )
    )
    trained = load_file(str(run / "model.safetensors"))
    visual = {name: tensor for name, tensor in pretrained.items() if name.startswith("visual.")}
    assert visual and all(torch.equal(trained[f"model.{name}"], tensor) for name, tensor in visual.items())


def test_the_command_refuses_a_folder_without_images_and_bad_settings(tmp_path, capsys):
    assert rewardedit("pretrain-reward-vision", "--images", tmp_path, "--out", tmp_path / "o") == 2
    assert "no images" in capsys.readouterr().err
    args = ("pretrain-reward-vision", "--images", tmp_path, "--out", tmp_path / "o", "--steps", "0")
    assert rewardedit(*args) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err
