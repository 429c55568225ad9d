"""A fresh model loaded from a plain InstructPix2Pix folder reproduces diffusers' pipeline exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from model import RewardEditPipeline, Rewards
from model.benchmark import stock_pipeline

from .helpers import pixels


@pytest.mark.parametrize("size", [(64, 64), (96, 64), (64, 120)], ids=["square", "wide", "tall-odd-latent"])
def test_fresh_model_matches_stock_instruct_pix2pix(ip2p_folder, source_image, size):
    image = source_image.resize(size)
    ours = RewardEditPipeline.from_pretrained(ip2p_folder)
    stock = stock_pipeline(ours.components)
    kwargs = {"num_inference_steps": 12, "guidance_scale": 7.5, "image_guidance_scale": 1.5}

    expected = stock(
        prompt="make the square red", image=image, generator=torch.Generator().manual_seed(3), **kwargs
    ).images[0]
    got = ours(
        image=image,
        instruction="make the square red",
        rewards=Rewards(),
        generator=torch.Generator().manual_seed(3),
        **kwargs,
    ).images[0]

    assert got.size == expected.size == size
    assert pixels(expected).std() > 5, "reference output is flat; the comparison would prove nothing"
    assert np.abs(pixels(got) - pixels(expected)).max() <= 1


def test_fresh_model_reward_modules_are_zero_initialised(ip2p_folder):
    reward = RewardEditPipeline.from_pretrained(ip2p_folder).components.reward
    assert torch.count_nonzero(reward.encoder.to_out.weight) == 0
    assert torch.count_nonzero(reward.encoder.ff[-1].weight) == 0
    assert all(torch.count_nonzero(layer.weight) == 0 for layer in reward.block_biases)
    assert torch.count_nonzero(reward.score_embedding.mlp[0].weight) > 0


def test_output_is_independent_of_rewards_while_modules_are_zero(ip2p_folder, source_image):
    pipe = RewardEditPipeline.from_pretrained(ip2p_folder)

    def edit(rewards: Rewards) -> Image.Image:
        return pipe(
            image=source_image,
            instruction="add a hat",
            rewards=rewards,
            num_inference_steps=4,
            generator=torch.Generator().manual_seed(0),
        ).images[0]

    assert np.array_equal(pixels(edit(Rewards())), pixels(edit(Rewards(following=0, quality_text="blurry"))))
