"""`rewardedit train` on the tiny preset, then the result edits through RewardEditPipeline."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from model import RewardEditPipeline, Rewards, build_preset, load_components
from model.benchmark import stock_pipeline
from rewardedit.cli import main
from training import Trainer, load_config
from training.config import ConfigError
from training.state import STATE_FOLDER

from .helpers import TINY_CONFIG, changed, make_dataset, snapshot, tiny_config


@pytest.mark.slow
def test_train_tiny_then_edit_with_the_pipeline(manifest, tmp_path, source_image, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--config", str(TINY_CONFIG), "--manifest", str(manifest), "--out", str(out),
              "--max-steps", "30", "--checkpoint-every", "15", "--validate-every", "30"])  # fmt: skip
    assert exit_info.value.code == 0, capsys.readouterr().err

    # Contract folders: DIR/checkpoint-STEP (with resume state) and DIR/final (weights only, no pickles).
    for folder in (out / "checkpoint-15", out / "checkpoint-30", out / "final"):
        for part in ("model_index.json", "unet", "vae", "text_encoder", "tokenizer", "scheduler", "reward"):
            assert (folder / part).exists(), folder / part
    assert (out / "checkpoint-30" / STATE_FOLDER).is_dir() and not (out / "final" / STATE_FOLDER).exists()
    assert not [p for p in out.rglob("*") if p.suffix in (".bin", ".pkl", ".pt", ".pth")]

    with (out / "logs" / "train.csv").open() as log:
        rows = list(csv.DictReader(log))
    assert [int(row["step"]) for row in rows] == list(range(1, 31))
    assert all(float(row["lr"]) == 1e-4 and np.isfinite(float(row["loss"])) for row in rows)
    assert len(list((out / "validation" / "step-000030").glob("*.png"))) == 1
    used = load_config(out / "config.yaml")
    assert (used.max_steps, used.preset, used.manifest) == (30, "tiny", manifest)

    # Training moved the U-Net and the reward modules (zero-initialised ones included), not the frozen parts.
    start, trained = build_preset("tiny", seed=0), load_components(out / "final")
    for name in ("unet", "reward"):
        assert changed(snapshot(getattr(start, name)), snapshot(getattr(trained, name)), "")
    for part in ("score_embedding", "type_embedding", "null_condition", "block_biases", "encoder.to_out"):
        assert changed(snapshot(start.reward), snapshot(trained.reward), part), part
    for name in ("vae", "text_encoder"):
        assert not changed(snapshot(getattr(start, name)), snapshot(getattr(trained, name)), "")

    pipe = RewardEditPipeline.from_pretrained(out / "final")
    image = pipe(
        image=source_image,
        instruction="invert the blue channel",
        rewards=Rewards(following=4, preserving=5, quality=3),
        num_inference_steps=4,
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert image.size == source_image.size


def test_training_starts_from_a_plain_instruct_pix2pix_folder(manifest, tmp_path):
    plain = tmp_path / "ip2p"
    stock_pipeline(build_preset("tiny", seed=1)).save_pretrained(plain, safe_serialization=True)
    assert not (plain / "reward").exists()
    config = tiny_config(manifest, tmp_path / "run", preset=None, init=plain, max_steps=2, validate_every=0)
    final = Trainer(config).fit()
    assert (final / "reward" / "config.json").is_file()
    assert changed(snapshot(load_components(plain).unet), snapshot(load_components(final).unet), "")


@pytest.mark.parametrize(
    ("inputs", "use_scores", "use_texts"),
    [("score", True, False), ("text", False, True), ("none", False, False), ("score+text", True, True)],
)
def test_reward_inputs_ablation_is_saved_with_the_checkpoint(
    manifest, tmp_path, inputs, use_scores, use_texts
):
    config = tiny_config(manifest, tmp_path / "run", reward_inputs=inputs, max_steps=1, validate_every=0)
    reward = load_components(Trainer(config).fit()).reward
    assert (reward.config.use_scores, reward.config.use_texts) == (use_scores, use_texts)


def test_training_continues_the_released_reward_architecture(tmp_path):
    from model.release_reward_model import ReleaseRewardConditionModel
    from tests.model.release import write_release_folder

    release = tmp_path / "stage2_reward_instruct_pix2pix"
    write_release_folder(build_preset("tiny", seed=1), release)
    labelled = make_dataset(tmp_path, count=4, labelled=True)
    config = tiny_config(labelled, tmp_path / "run", preset=None, init=release, max_steps=2, validate_every=0)
    with pytest.raises(ConfigError, match="no learned null reward"):
        Trainer(config)  # tiny.yaml drops the reward of some samples: the release has no null reward

    final = Trainer(config.model_copy(update={"reward_dropout": 0.0})).fit()
    start, trained = load_components(release), load_components(final)
    assert isinstance(trained.reward, ReleaseRewardConditionModel)
    for part in ("add_embedding.", "text_linear2.", "ca.", "proj_deal."):
        assert changed(snapshot(start.reward), snapshot(trained.reward), part), part
