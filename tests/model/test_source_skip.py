"""The source skip (`rewardedit.json`): a fresh pixel model copies its source, and the option is strict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from model import CheckpointError, InvalidInputError, RewardEditPipeline, build_preset, save_components
from model.pipeline_config import CONFIG_NAME, PipelineConfig
from model.schedulers import supported_samplers

from .helpers import pixels


@pytest.fixture(scope="module")
def skip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_components(build_preset("pixel"), tmp_path_factory.mktemp("skip") / "ckpt")


def test_a_fresh_pixel_model_returns_its_source_unchanged(skip_checkpoint, source_image):
    pipe = RewardEditPipeline.from_pretrained(skip_checkpoint)
    out = pipe(
        image=source_image,
        instruction="make the red square blue",
        num_inference_steps=3,
        image_guidance_scale=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    assert np.abs(pixels(out.images[0]) - pixels(source_image.convert("RGB"))).max() <= 1


def test_without_the_skip_the_same_weights_draw_nothing_like_it(skip_checkpoint, tmp_path, source_image):
    folder = shutil.copytree(skip_checkpoint, tmp_path / "no-skip")
    (folder / CONFIG_NAME).unlink()
    pipe = RewardEditPipeline.from_pretrained(folder)
    out = pipe(image=source_image, instruction="blue", num_inference_steps=3, image_guidance_scale=1.0)
    assert np.abs(pixels(out.images[0]) - pixels(source_image.convert("RGB"))).mean() > 20


def test_the_option_round_trips_and_others_keep_diffusers_layout(skip_checkpoint, tmp_path, tiny_checkpoint):
    written = json.loads((skip_checkpoint / CONFIG_NAME).read_text())
    assert written == {"mask_text_padding": True, "source_skip": True}
    pipe = RewardEditPipeline.from_pretrained(skip_checkpoint)
    assert pipe.components.config == PipelineConfig(source_skip=True, mask_text_padding=True)
    assert pipe.model.source_skip == pipe.components.vae.config.scaling_factor
    saved = pipe.save_pretrained(tmp_path / "saved")
    assert (saved / CONFIG_NAME).read_text() == (skip_checkpoint / CONFIG_NAME).read_text()
    assert not (tiny_checkpoint / CONFIG_NAME).exists()
    assert RewardEditPipeline.from_pretrained(tiny_checkpoint).model.source_skip == 0.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"source_skip": true, "sorce_skip": true}', "keys among source_skip"),
        ('{"source_skip": 1}', "must be true or false"),
        ("[true]", "must be an object"),
        ("{", "not readable JSON"),
    ],
)
def test_a_bad_option_file_fails_loudly(skip_checkpoint, tmp_path, content, message):
    folder = shutil.copytree(skip_checkpoint, tmp_path / "bad")
    (folder / CONFIG_NAME).write_text(content)
    with pytest.raises(CheckpointError, match=message):
        RewardEditPipeline.from_pretrained(folder)


def test_a_skip_with_another_prediction_type_is_refused(skip_checkpoint, tmp_path):
    folder = shutil.copytree(skip_checkpoint, tmp_path / "v")
    config_file = folder / "scheduler" / "scheduler_config.json"
    config = {**json.loads(config_file.read_text()), "prediction_type": "v_prediction"}
    config_file.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="needs a scheduler predicting 'sample'"):
        RewardEditPipeline.from_pretrained(folder)


def test_euler_ancestral_is_refused_for_an_x0_model(skip_checkpoint, source_image):
    pipe = RewardEditPipeline.from_pretrained(skip_checkpoint)
    assert "euler_a" not in supported_samplers(pipe.components.scheduler)
    with pytest.raises(InvalidInputError, match="cannot sample a model predicting 'sample'"):
        pipe(image=source_image, instruction="make it blue", num_inference_steps=2, scheduler="euler_a")
