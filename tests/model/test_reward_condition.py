"""The reward condition is wired into the U-Net: scores and texts each change the output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import RewardEditPipeline, Rewards
from model.reward_model import sinusoidal_encoding

from .helpers import pixels, randomize_rewards


@pytest.fixture(scope="module")
def conditioned_pipe(tiny_checkpoint) -> RewardEditPipeline:
    pipe = RewardEditPipeline.from_pretrained(tiny_checkpoint)
    randomize_rewards(pipe.components.reward)
    return pipe


def edit(pipe: RewardEditPipeline, image, rewards: Rewards, **kwargs) -> np.ndarray:
    out = pipe(
        image=image,
        instruction="make it blue",
        rewards=rewards,
        num_inference_steps=6,
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    return pixels(out.images[0])


def test_non_zero_reward_modules_change_the_output(tiny_checkpoint, conditioned_pipe, source_image):
    plain = RewardEditPipeline.from_pretrained(tiny_checkpoint)
    assert (
        np.abs(edit(plain, source_image, Rewards()) - edit(conditioned_pipe, source_image, Rewards())).max()
        > 2
    )


def test_scores_and_texts_change_the_output_differently(conditioned_pipe, source_image):
    best = edit(conditioned_pipe, source_image, Rewards())
    low_score = edit(conditioned_pipe, source_image, Rewards(following=1.0))
    other_text = edit(conditioned_pipe, source_image, Rewards(following_text="the instruction is ignored"))
    low_quality = edit(conditioned_pipe, source_image, Rewards(quality=1.0))
    assert np.abs(best - low_score).max() > 2
    assert np.abs(best - other_text).max() > 2
    assert np.abs(low_score - other_text).max() > 2
    assert np.abs(low_score - low_quality).max() > 2, "which perspective gets the score must matter"


def test_neighbouring_scores_get_clearly_different_encodings():
    four, five = sinusoidal_encoding(torch.tensor([4.0 * 200, 5.0 * 200]), 128)
    assert torch.nn.functional.cosine_similarity(four, five, dim=0) < 0.9


def test_reward_guidance_uses_the_null_reward(conditioned_pipe, source_image):
    off = edit(conditioned_pipe, source_image, Rewards())
    on = edit(conditioned_pipe, source_image, Rewards(), reward_guidance_scale=3.0)
    assert np.abs(off - on).max() > 2


@pytest.mark.parametrize(("reward_guidance_scale", "branches"), [(1.0, 3), (2.0, 4), (0.0, 4)])
def test_reward_guidance_adds_a_fourth_branch_only_when_on(
    conditioned_pipe, source_image, reward_guidance_scale, branches
):
    batch_sizes: list[int] = []
    handle = conditioned_pipe.model.register_forward_hook(
        lambda module, args, output: batch_sizes.append(args[0].shape[0])
    )
    try:
        edit(conditioned_pipe, source_image, Rewards(), reward_guidance_scale=reward_guidance_scale)
    finally:
        handle.remove()
    assert batch_sizes == [branches] * 6


@pytest.mark.parametrize(
    ("use_scores", "use_texts"), [(True, False), (False, True), (False, False)], ids=["score", "text", "none"]
)
def test_ablated_inputs_are_ignored_by_the_condition(conditioned_pipe, source_image, use_scores, use_texts):
    reward = conditioned_pipe.components.reward
    reward.register_to_config(use_scores=use_scores, use_texts=use_texts)
    try:
        best = edit(conditioned_pipe, source_image, Rewards())
        low_score = edit(conditioned_pipe, source_image, Rewards(following=1.0))
        other_text = edit(
            conditioned_pipe, source_image, Rewards(following_text="the instruction is ignored")
        )
    finally:
        reward.register_to_config(use_scores=True, use_texts=True)
    assert (np.abs(best - low_score).max() > 2) == use_scores
    assert (np.abs(best - other_text).max() > 2) == use_texts
