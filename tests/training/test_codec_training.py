"""A checkpoint whose `vae/` is the lossless codec trains and resumes like one with a learned VAE."""

from __future__ import annotations

import shutil

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from model import RewardEditPipeline
from model.codec import PixelShuffleCodec
from training import Trainer

from .helpers import snapshot, tiny_config

SETTINGS = {"preset": "pixel", "resolution": 64, "max_steps": 2, "checkpoint_every": 1, "validate_every": 0}


def test_the_target_is_the_edited_pixels_folded_and_scaled(manifest, tmp_path):
    trainer = Trainer(tiny_config(manifest, tmp_path / "run", **SETTINGS))
    batch = next(iter(DataLoader(trainer.dataset, batch_sampler=trainer.sampler)))
    encoded = trainer.objective.encode(batch, torch.Generator().manual_seed(0))
    # The codec's posterior has no spread, so no draw changes the target.
    scale = trainer.components.vae.config.scaling_factor
    assert torch.equal(encoded["target"], F.pixel_unshuffle(batch["edited"], 4) * scale)
    assert torch.equal(encoded["source"], F.pixel_unshuffle(batch["source"], 4))


def test_a_resumed_pixel_run_equals_the_uninterrupted_one(manifest, tmp_path):
    Trainer(tiny_config(manifest, tmp_path / "full", **SETTINGS)).fit()
    (tmp_path / "cut").mkdir()
    shutil.copytree(tmp_path / "full" / "checkpoint-1", tmp_path / "cut" / "checkpoint-1")
    Trainer(tiny_config(manifest, tmp_path / "cut", resume=True, **SETTINGS)).fit()

    pipes = [RewardEditPipeline.from_pretrained(tmp_path / run / "final") for run in ("full", "cut")]
    assert all(isinstance(pipe.components.vae, PixelShuffleCodec) for pipe in pipes)
    expected, resumed = (snapshot(pipe.components.unet) for pipe in pipes)
    for name, tensor in expected.items():
        assert torch.equal(resumed[name], tensor), name
