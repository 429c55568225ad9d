"""`--resume` continues from the latest checkpoint exactly as the uninterrupted run went on."""

from __future__ import annotations

import csv
import shutil

import pytest
import torch
from safetensors.torch import load_file

from model import load_components
from training import ConfigError, Trainer
from training.state import OPTIMIZER_FILE, STATE_FOLDER, load_state

from .helpers import snapshot, tiny_config


def final_weights(folder) -> dict[str, torch.Tensor]:
    components = load_components(folder)
    return {**snapshot(components.unet), **{f"reward.{k}": v for k, v in snapshot(components.reward).items()}}


@pytest.mark.slow
def test_resumed_run_equals_the_uninterrupted_one(manifest, tmp_path):
    # EMA, gradient accumulation and a decaying schedule on, so every piece of state has to come back.
    settings = {
        "max_steps": 6, "checkpoint_every": 3, "validate_every": 0, "ema": True, "ema_decay": 0.9,
        "gradient_accumulation_steps": 2, "lr_scheduler": "cosine", "lr_warmup_steps": 2,
    }  # fmt: skip
    full = tmp_path / "full"
    Trainer(tiny_config(manifest, full, **settings)).fit()

    # The "interrupted" run: only the first checkpoint survived.
    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copytree(full / "checkpoint-3", cut / "checkpoint-3")
    resumed = Trainer(tiny_config(manifest, cut, resume=True, **settings))
    assert (resumed.step, resumed.samples_seen) == (3, 3 * 2 * 2)
    resumed.fit()

    weights, expected_weights = final_weights(cut / "final"), final_weights(full / "final")
    for name, expected in expected_weights.items():
        assert torch.equal(weights[name], expected), name
    expected_state, _, expected_raw = load_state(full / "checkpoint-6")
    state, _, raw = load_state(cut / "checkpoint-6")
    assert state == expected_state
    for name in expected_raw:
        assert torch.equal(raw[name], expected_raw[name]), name
    expected_moments = load_file(full / "checkpoint-6" / STATE_FOLDER / OPTIMIZER_FILE)
    moments = load_file(cut / "checkpoint-6" / STATE_FOLDER / OPTIMIZER_FILE)
    assert moments.keys() == expected_moments.keys()
    for name in expected_moments:
        assert torch.equal(moments[name], expected_moments[name]), name

    with (cut / "logs" / "train.csv").open() as log:
        assert [int(row["step"]) for row in csv.DictReader(log)] == [4, 5, 6]

    with pytest.raises(ConfigError, match="already holds checkpoints: pass --resume"):
        Trainer(tiny_config(manifest, full, **settings))


def test_resume_without_a_checkpoint_starts_from_scratch(manifest, tmp_path):
    trainer = Trainer(tiny_config(manifest, tmp_path / "new", resume=True, max_steps=1))
    assert (trainer.step, trainer.samples_seen) == (0, 0)
