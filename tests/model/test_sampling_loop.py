"""The per-step callback, cancellation and seeded reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import EditCanceled, NonFiniteImageError, RewardEditPipeline

from .helpers import pixels


@pytest.fixture(scope="module")
def pipe(tiny_checkpoint) -> RewardEditPipeline:
    return RewardEditPipeline.from_pretrained(tiny_checkpoint)


def test_callback_sees_every_step(pipe, source_image):
    seen: list[tuple[int, int]] = []
    pipe(
        image=source_image,
        instruction="add a star",
        num_inference_steps=7,
        callback=lambda step, total: seen.append((step, total)),
    )
    assert seen == [(step, 7) for step in range(1, 8)]


def test_callback_returning_false_cancels_the_loop(pipe, source_image):
    seen: list[int] = []

    def stop_after_three(step: int, total: int) -> bool:
        seen.append(step)
        return step < 3

    with pytest.raises(EditCanceled) as info:
        pipe(image=source_image, instruction="add a star", num_inference_steps=20, callback=stop_after_three)
    assert seen == [1, 2, 3]
    assert (info.value.step, info.value.total) == (3, 20)


def test_same_seed_same_image_other_seed_other_image(pipe, source_image):
    def run(seed: int) -> np.ndarray:
        out = pipe(
            image=source_image,
            instruction="make it snow",
            num_inference_steps=5,
            generator=torch.Generator().manual_seed(seed),
        )
        return pixels(out.images[0])

    assert np.array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_output_size_follows_the_preprocessing_rules(pipe, source_image):
    image = source_image.resize((300, 130))
    out = pipe(image=image, instruction="make it blue", num_inference_steps=2, max_side=128)
    assert out.images[0].size == (128, 48)


def test_fp16_vae_overflow_is_retried_in_fp32(tiny_checkpoint, source_image):
    half = RewardEditPipeline.from_pretrained(tiny_checkpoint, dtype=torch.float16)
    with torch.no_grad():  # activations past fp16's 65504 turn into inf, then NaN after group norm
        half.components.vae.decoder.conv_in.weight.mul_(2e4)
    out = half(image=source_image, instruction="make it blue", num_inference_steps=2)
    assert half.components.vae.dtype == torch.float32
    assert pixels(out.images[0]).std() > 1


def test_non_finite_latents_fail_clearly(tiny_checkpoint, source_image):
    pipe = RewardEditPipeline.from_pretrained(tiny_checkpoint)
    with torch.no_grad():
        pipe.components.unet.conv_out.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteImageError):
        pipe(image=source_image, instruction="make it blue", num_inference_steps=2)
