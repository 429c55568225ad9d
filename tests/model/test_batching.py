"""`edit_batch` runs edits together, each with its own seed, reward and guidance, as if run alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from model import EditRequest, InvalidInputError, RewardEditPipeline, Rewards

from .helpers import pixels, randomize_rewards


@pytest.fixture(scope="module")
def conditioned_pipe(tiny_checkpoint) -> RewardEditPipeline:
    pipe = RewardEditPipeline.from_pretrained(tiny_checkpoint)
    randomize_rewards(pipe.components.reward)
    return pipe


def requests(source_image: Image.Image) -> list[EditRequest]:
    mirrored = ImageOps.mirror(source_image)
    return [
        EditRequest(source_image, "make it blue", Rewards(), generator=torch.Generator().manual_seed(1)),
        EditRequest(
            mirrored,
            "add a red star",
            Rewards(following=2.0, quality_text="the image is blurry"),
            guidance_scale=4.0,
            image_guidance_scale=2.0,
            generator=torch.Generator().manual_seed(2),
        ),
        EditRequest(
            source_image,
            "make it blue",
            Rewards(),
            reward_guidance_scale=2.5,
            generator=torch.Generator().manual_seed(1),
        ),
        EditRequest(source_image, "make it blue", None, generator=torch.Generator().manual_seed(1)),
    ]


def test_batched_edits_match_the_same_edits_run_one_by_one(conditioned_pipe, source_image):
    batched = conditioned_pipe.edit_batch(requests(source_image), num_inference_steps=5).images
    alone = [
        conditioned_pipe.edit_batch([r], num_inference_steps=5).images[0] for r in requests(source_image)
    ]
    for together, single in zip(batched, alone, strict=True):
        assert np.abs(pixels(together) - pixels(single)).max() <= 1
    # They differ from each other, so the comparison above could fail.
    for other in batched[1:]:
        assert np.abs(pixels(batched[0]) - pixels(other)).max() > 2


def test_call_is_a_batch_of_one(conditioned_pipe, source_image):
    first = requests(source_image)[1]
    called = conditioned_pipe(
        first.image,
        first.instruction,
        first.rewards,
        num_inference_steps=5,
        guidance_scale=first.guidance_scale,
        image_guidance_scale=first.image_guidance_scale,
        generator=torch.Generator().manual_seed(2),
    ).images[0]
    batched = conditioned_pipe.edit_batch([first], num_inference_steps=5).images[0]
    assert np.array_equal(pixels(called), pixels(batched))


def test_one_request_with_reward_guidance_runs_four_branches_for_the_batch(conditioned_pipe, source_image):
    batch_sizes: list[int] = []
    handle = conditioned_pipe.model.register_forward_hook(
        lambda module, args, output: batch_sizes.append(args[0].shape[0])
    )
    try:
        conditioned_pipe.edit_batch(requests(source_image), num_inference_steps=2)
    finally:
        handle.remove()
    assert batch_sizes == [4 * 4] * 2


def test_no_reward_conditions_every_branch_on_the_learned_null_reward(conditioned_pipe, source_image):
    conditions: list[torch.Tensor] = []
    handle = conditioned_pipe.model.register_forward_hook(
        lambda module, args, output: conditions.append(args[3])
    )
    no_reward = EditRequest(source_image, "make it blue", None, reward_guidance_scale=2.0)
    try:
        conditioned_pipe.edit_batch([no_reward, *requests(source_image)[:1]], num_inference_steps=1)
    finally:
        handle.remove()
    null = conditioned_pipe.components.reward.null(1)[0]
    branches = conditions[0].unflatten(0, (4, 2))  # [text+image, image, neither, null reward] x batch
    assert all(torch.equal(branch[0], null) for branch in branches)
    assert not torch.equal(branches[0, 1], null)  # the request beside it keeps its reward


def test_edits_of_different_sizes_are_refused(conditioned_pipe, source_image):
    other = EditRequest(source_image.resize((128, 64)), "make it blue")
    with pytest.raises(InvalidInputError, match="same size"):
        conditioned_pipe.edit_batch([EditRequest(source_image, "make it blue"), other], num_inference_steps=1)


def test_an_empty_batch_is_refused(conditioned_pipe):
    with pytest.raises(InvalidInputError, match="at least one"):
        conditioned_pipe.edit_batch([], num_inference_steps=1)
