"""The noisy skip (`rewardedit.json` noisy_skip): Karras et al.'s preconditioning about the source."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from model import CheckpointError, RewardEditPipeline, build_preset, save_components
from model.pipeline_config import CONFIG_NAME, PipelineConfig
from model.unet import NoisySkip


def edm(noisy: float, prior: float, output: float, alpha_bar: float, spread: float) -> float:
    """The same prediction written as Karras et al. do, in y = x_t / a with sigma = s / a."""
    a, sigma = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar) / math.sqrt(alpha_bar)
    c_skip = spread**2 / (spread**2 + sigma**2)
    c_out = sigma * spread / math.sqrt(sigma**2 + spread**2)
    return c_skip * noisy / a + (1 - c_skip) * prior + c_out * output


@pytest.mark.parametrize("alpha_bar", [0.9, 0.5, 0.02])
def test_the_prediction_is_the_edm_preconditioning_about_the_source(alpha_bar):
    skip = NoisySkip(torch.tensor([alpha_bar]), spread=0.6)
    noisy, prior, output = torch.tensor(0.7), torch.tensor(-0.3), torch.tensor(1.2)
    got = skip(noisy.view(1, 1, 1, 1), prior.view(1, 1, 1, 1), output.view(1, 1, 1, 1), 0)
    assert got.item() == pytest.approx(edm(0.7, -0.3, 1.2, alpha_bar, 0.6), rel=1e-6)


def test_no_noise_keeps_the_noisy_latent_and_pure_noise_gives_the_source_plus_the_output():
    skip = NoisySkip(torch.tensor([1.0, 0.0]), spread=0.5)
    noisy, prior, output = (torch.full((2, 1, 1, 1), value) for value in (0.7, -0.3, 1.2))
    got = skip(noisy, prior, output, torch.tensor([0, 1]))
    assert got[0].item() == pytest.approx(0.7)
    assert got[1].item() == pytest.approx(-0.3 + 0.5 * 1.2)


def test_a_fractional_timestep_interpolates_alphas_cumprod():
    skip = NoisySkip(torch.tensor([0.9, 0.5]), spread=0.6)
    one = torch.ones(1, 1, 1, 1)
    assert skip(one, 0 * one, one, 0.25).item() == pytest.approx(edm(1, 0, 1, 0.8, 0.6), rel=1e-6)


@pytest.fixture(scope="module")
def noisy_skip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    components = build_preset("pixel")
    components.config = PipelineConfig(source_skip=True, noisy_skip=True, mask_text_padding=True)
    return save_components(components, tmp_path_factory.mktemp("noisy") / "ckpt")


def test_the_option_round_trips(noisy_skip_checkpoint, tmp_path):
    written = json.loads((noisy_skip_checkpoint / CONFIG_NAME).read_text())
    assert written == {"mask_text_padding": True, "noisy_skip": True, "source_skip": True}
    pipe = RewardEditPipeline.from_pretrained(noisy_skip_checkpoint)
    assert isinstance(pipe.model.noisy_skip, NoisySkip)
    saved = pipe.save_pretrained(tmp_path / "saved")
    assert (saved / CONFIG_NAME).read_text() == (noisy_skip_checkpoint / CONFIG_NAME).read_text()


def test_the_model_keeps_a_barely_noisy_latent_and_copies_the_source_from_pure_noise(noisy_skip_checkpoint):
    pipe = RewardEditPipeline.from_pretrained(noisy_skip_checkpoint)
    channels = pipe.components.vae.config.latent_channels
    generator = torch.Generator().manual_seed(0)
    noisy, source = (torch.randn(1, channels, 16, 16, generator=generator) for _ in range(2))
    states = pipe.encode_text(["make it blue"])
    condition = pipe.encode_rewards([None])
    with torch.no_grad():
        clean = pipe.model(torch.cat([noisy, source], 1), torch.tensor(0.0), states, condition)
        noise = pipe.model(torch.cat([noisy, source], 1), torch.tensor(999.0), states, condition)
    assert (clean - noisy).abs().max() < 0.05  # alphas_cumprod[0] is 0.99915, not 1
    assert torch.allclose(noise, pipe.components.vae.config.scaling_factor * source, atol=1e-3)


def test_a_noisy_skip_without_the_source_skip_is_refused(noisy_skip_checkpoint, tmp_path):
    folder = shutil.copytree(noisy_skip_checkpoint, tmp_path / "alone")
    (folder / CONFIG_NAME).write_text('{"noisy_skip": true}')
    with pytest.raises(CheckpointError, match="noisy_skip, which needs source_skip"):
        RewardEditPipeline.from_pretrained(folder)
