"""The paper's released Reward-InsPix2Pix folders load as they are and edit as the release computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from model import CheckpointError, InvalidInputError, RewardEditPipeline, Rewards, build_preset
from model.benchmark import stock_pipeline
from model.release_reward_model import ReleaseRewardConditionModel

from .helpers import pixels
from .release import WEIGHTS, ReleaseReference, release_sized_components, write_release_folder

EDIT = {"num_inference_steps": 6, "guidance_scale": 7.5, "image_guidance_scale": 1.5}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A `stage2_reward_instruct_pix2pix`-layout folder (tiny shapes) and its reward weights."""
    folder = tmp_path_factory.mktemp("release") / "stage2_reward_instruct_pix2pix"
    weights = write_release_folder(build_preset("tiny", seed=2), folder)
    return folder, weights


def edit(pipe: RewardEditPipeline, image, rewards: Rewards, seed: int = 0) -> np.ndarray:
    kwargs = {**EDIT, "generator": torch.Generator().manual_seed(seed)}
    return pixels(pipe(image=image, instruction="make the square red", rewards=rewards, **kwargs).images[0])


REWARDS = [
    Rewards(),
    Rewards(following=2, preserving=4.5, quality=0, quality_text="blurry and noisy"),
    Rewards(following=3, following_text="the square is not red", preserving_text="the circle moved"),
]


@pytest.mark.parametrize("rewards", REWARDS, ids=["best", "scores", "texts"])
def test_release_folder_edits_as_the_release_computes(release, source_image, rewards):
    folder, weights = release
    ours = RewardEditPipeline.from_pretrained(folder)
    assert isinstance(ours.components.reward, ReleaseRewardConditionModel)

    reference = ReleaseReference(
        stock_pipeline(RewardEditPipeline.from_pretrained(folder).components), weights
    )
    expected = reference(
        rewards,
        prompt="make the square red",
        image=source_image,
        generator=torch.Generator().manual_seed(0),
        **EDIT,
    ).images[0]
    plain = stock_pipeline(RewardEditPipeline.from_pretrained(folder).components)(
        prompt="make the square red", image=source_image, generator=torch.Generator().manual_seed(0), **EDIT
    ).images[0]

    got = edit(ours, source_image, rewards)
    assert np.abs(pixels(expected) - pixels(plain)).max() > 20, "the reward modules should change the edit"
    assert np.abs(got - pixels(expected)).max() <= 2


def test_release_widths_of_sd15_load_and_edit_as_the_release(tmp_path, source_image):
    """conv_in 320, time embedding 1280 and CLIP 768: the shapes the released weights have."""
    folder = tmp_path / "sd15-widths"
    weights = write_release_folder(release_sized_components(), folder, seed=1)
    ours = RewardEditPipeline.from_pretrained(folder)
    config = ours.components.reward.config
    assert (config.text_dim, config.channels, config.time_embed_dim) == (768, 320, 1280)
    reference = ReleaseReference(
        stock_pipeline(RewardEditPipeline.from_pretrained(folder).components), weights
    )
    rewards = REWARDS[1]
    expected = reference(
        rewards,
        prompt="make the square red",
        image=source_image,
        generator=torch.Generator().manual_seed(0),
        **EDIT,
    ).images[0]
    assert np.abs(edit(ours, source_image, rewards) - pixels(expected)).max() <= 2


def test_every_reward_input_changes_the_release_edit(release, source_image):
    pipe = RewardEditPipeline.from_pretrained(release[0])
    best = edit(pipe, source_image, Rewards())
    for change in (
        {"following": 4},
        {"preserving": 4},
        {"quality": 4},
        {"following_text": "nothing changed"},
        {"preserving_text": "the background changed"},
        {"quality_text": "blurry"},
    ):
        assert np.abs(edit(pipe, source_image, Rewards(**change)) - best).max() > 0, change


def test_release_round_trips_through_our_layout(release, source_image, tmp_path):
    pipe = RewardEditPipeline.from_pretrained(release[0])
    pipe.save_pretrained(tmp_path / "ours")

    reward_config = json.loads((tmp_path / "ours" / "reward" / "config.json").read_text())
    assert reward_config["_class_name"] == "ReleaseRewardConditionModel"
    assert not any(key.startswith("ca.") for key in load_file(tmp_path / "ours" / WEIGHTS))
    again = RewardEditPipeline.from_pretrained(tmp_path / "ours")
    before, after = pipe.components.reward.state_dict(), again.components.reward.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)
    rewards = REWARDS[1]
    assert np.array_equal(edit(again, source_image, rewards), edit(pipe, source_image, rewards))


def test_release_has_no_null_reward_so_reward_guidance_and_no_reward_are_refused(release, source_image):
    pipe = RewardEditPipeline.from_pretrained(release[0])
    with pytest.raises(InvalidInputError, match="no learned null reward"):
        pipe(image=source_image, instruction="add a hat", reward_guidance_scale=2.0, num_inference_steps=1)
    with pytest.raises(InvalidInputError, match="no learned null reward"):
        pipe(image=source_image, instruction="add a hat", rewards=None, num_inference_steps=1)


def _rewrite_unet_weights(folder: Path, change) -> None:
    weights = load_file(folder / WEIGHTS)
    change(weights)
    save_file(weights, folder / WEIGHTS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: w.pop("ca.output.LayerNorm.bias"), "ca.output.LayerNorm.bias"),
        (lambda w: w.__setitem__("mystery_adapter.weight", torch.zeros(2)), "mystery_adapter.weight"),
        (lambda w: w.pop("conv_in.weight"), "conv_in.weight"),
        (lambda w: w.__setitem__("text_linear.weight", torch.zeros(3, 3)), "text_linear"),
    ],
    ids=["release-key-missing", "unknown-key", "unet-key-missing", "wrong-shape"],
)
def test_a_unet_weight_file_that_does_not_match_fails_loudly(release, tmp_path, change, message):
    folder = tmp_path / "broken"
    stock_pipeline(RewardEditPipeline.from_pretrained(release[0]).components).save_pretrained(folder)
    _rewrite_unet_weights(folder, lambda w: w.update(release[1]))
    _rewrite_unet_weights(folder, change)
    with pytest.raises(CheckpointError, match=message):
        RewardEditPipeline.from_pretrained(folder)


def test_release_weights_beside_a_reward_folder_are_ambiguous(release, tmp_path):
    folder = tmp_path / "both"
    RewardEditPipeline.from_pretrained(release[0]).save_pretrained(folder)
    _rewrite_unet_weights(folder, lambda w: w.update(release[1]))
    with pytest.raises(CheckpointError, match="both a reward/ folder"):
        RewardEditPipeline.from_pretrained(folder)


def test_a_missing_vae_weight_fails_instead_of_loading_random_values(ip2p_folder, tmp_path):
    import shutil

    folder = tmp_path / "no-vae-weight"
    shutil.copytree(ip2p_folder, folder)
    path = folder / "vae" / "diffusion_pytorch_model.safetensors"
    weights = load_file(path)
    weights.pop("decoder.conv_out.weight")
    save_file(weights, path)
    with pytest.raises(CheckpointError, match=r"lacks weights: decoder\.conv_out\.weight"):
        RewardEditPipeline.from_pretrained(folder)
