"""A folder's own scheduler is its default sampler, as in diffusers; other samplers by name per edit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, LCMScheduler, StableDiffusionInstructPix2PixPipeline

from model import InvalidInputError, RewardEditPipeline, Rewards, build_preset
from model.benchmark import stock_pipeline
from model.schedulers import SAMPLERS, build_scheduler

from .helpers import pixels

EDIT = {"num_inference_steps": 8, "guidance_scale": 7.5, "image_guidance_scale": 1.5}


@pytest.fixture(scope="module")
def ddim_folder(tmp_path_factory):
    """A plain InstructPix2Pix folder whose scheduler/ is DDIM, written by diffusers itself."""
    components = build_preset("tiny", seed=1)
    pipe = stock_pipeline(components)
    pipe.scheduler = DDIMScheduler.from_config(components.scheduler.config)
    folder = tmp_path_factory.mktemp("ddim") / "plain"
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def ours(pipe: RewardEditPipeline, image, scheduler: str | None = None) -> np.ndarray:
    out = pipe(
        image=image,
        instruction="make the square red",
        rewards=Rewards(),
        generator=torch.Generator().manual_seed(3),
        scheduler=scheduler,
        **EDIT,
    )
    return pixels(out.images[0])


def stock(pipe: StableDiffusionInstructPix2PixPipeline, image) -> np.ndarray:
    out = pipe(prompt="make the square red", image=image, generator=torch.Generator().manual_seed(3), **EDIT)
    return pixels(out.images[0])


def test_folder_scheduler_is_the_default_and_matches_diffusers_pipeline(ddim_folder, source_image):
    pipe = RewardEditPipeline.from_pretrained(ddim_folder)
    assert isinstance(pipe.components.scheduler, DDIMScheduler)
    diffusers_own = StableDiffusionInstructPix2PixPipeline.from_pretrained(
        ddim_folder, safety_checker=None, requires_safety_checker=False, local_files_only=True
    )
    diffusers_own.set_progress_bar_config(disable=True)
    assert isinstance(diffusers_own.scheduler, DDIMScheduler)

    expected = stock(diffusers_own, source_image)
    got = ours(pipe, source_image)
    assert expected.std() > 5
    assert np.abs(got - expected).max() <= 1
    assert np.abs(ours(pipe, source_image, "euler_a") - expected).max() > 20, "samplers should differ"


def test_saved_checkpoint_keeps_its_scheduler(ddim_folder, tmp_path):
    RewardEditPipeline.from_pretrained(ddim_folder).save_pretrained(tmp_path / "ours")
    index = json.loads((tmp_path / "ours" / "model_index.json").read_text())
    assert index["scheduler"] == ["diffusers", "DDIMScheduler"]
    assert isinstance(
        RewardEditPipeline.from_pretrained(tmp_path / "ours").components.scheduler, DDIMScheduler
    )


@pytest.mark.parametrize("name", [name for name in SAMPLERS if name != "lcm"])
def test_each_sampler_edits_as_diffusers_pipeline_with_that_scheduler(ip2p_folder, source_image, name):
    pipe = RewardEditPipeline.from_pretrained(ip2p_folder)
    reference = stock_pipeline(pipe.components)
    reference.scheduler = build_scheduler(pipe.components.scheduler, name)
    assert type(reference.scheduler).__name__ == SAMPLERS[name].scheduler_class

    expected = stock(reference, source_image)
    assert expected.std() > 5
    assert np.abs(ours(pipe, source_image, name) - expected).max() <= 1


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_samplers_keep_the_checkpoints_noise_schedule(name):
    own = build_preset("small").scheduler  # v-prediction: a setting a sampler must not lose
    if name == "lcm":
        own = LCMScheduler.from_config(own.config)
    built = build_scheduler(own, name)
    for key in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type"):
        assert built.config[key] == own.config[key], key
    assert build_scheduler(own, name) is not build_scheduler(own, name), "each edit gets a fresh scheduler"


def test_ddim_never_clips_latents_to_the_pixel_range():
    """DDIMScheduler clips x0 to [-1, 1] by default; built from an Euler config it must not."""
    own = build_preset("small").scheduler
    assert "clip_sample" not in own.config
    ddim = build_scheduler(own, "ddim")
    assert ddim.config.clip_sample is False
    ddim.set_timesteps(4)
    x0 = torch.full((1, 4, 2, 2), 3.0)  # a latent well outside [-1, 1]
    t = ddim.timesteps[-1]
    v = ddim.alphas_cumprod[t].sqrt() * torch.zeros_like(x0) - (1 - ddim.alphas_cumprod[t]).sqrt() * x0
    sample = ddim.alphas_cumprod[t].sqrt() * x0  # x_t with zero noise
    assert torch.allclose(ddim.step(v, t, sample).pred_original_sample, x0, atol=1e-4)


def test_unknown_sampler_is_refused_with_the_list(ip2p_folder, source_image):
    pipe = RewardEditPipeline.from_pretrained(ip2p_folder)
    with pytest.raises(
        InvalidInputError, match="unknown scheduler 'k_lms'; choose from euler_a, euler, ddim"
    ):
        ours(pipe, source_image, "k_lms")


def test_lcm_needs_a_checkpoint_distilled_for_it(ip2p_folder, source_image, tmp_path):
    pipe = RewardEditPipeline.from_pretrained(ip2p_folder)
    with pytest.raises(InvalidInputError, match="'lcm' needs a model distilled for it"):
        ours(pipe, source_image, "lcm")

    pipe.components.scheduler = LCMScheduler.from_config(pipe.components.scheduler.config)
    pipe.save_pretrained(tmp_path / "lcm")
    distilled = RewardEditPipeline.from_pretrained(tmp_path / "lcm")
    assert isinstance(distilled.components.scheduler, LCMScheduler)
    assert np.array_equal(ours(distilled, source_image, "lcm"), ours(distilled, source_image))
