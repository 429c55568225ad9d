"""A checkpoint's own sampling defaults (`rewardedit.json` "sampling"): what edits that set none get."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import CheckpointError, RewardEditPipeline
from model.pipeline_config import CONFIG_NAME, SamplingDefaults

from .helpers import pixels

OWN = {"num_inference_steps": 3, "guidance_scale": 3.0, "image_guidance_scale": 1.0}


def rewardedit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rewardedit", *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def own_defaults(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    """The tiny checkpoint exported (fp32) with sampling defaults of its own, as a shipped demo would be."""
    out = tmp_path_factory.mktemp("own") / "ckpt"
    flags = ["--default-steps", "3", "--default-guidance-scale", "3", "--default-image-guidance-scale", "1"]
    exported = rewardedit("export-model", str(tiny_checkpoint), str(out), "--dtype", "float32", *flags)
    assert exported.returncode == 0, exported.stderr
    return out


def edit(pipe: RewardEditPipeline, image, **settings) -> np.ndarray:
    generator = torch.Generator().manual_seed(0)
    return pixels(pipe(image=image, instruction="make it blue", generator=generator, **settings).images[0])


def test_a_checkpoint_without_them_samples_as_instructpix2pix(tiny_checkpoint):
    pipe = RewardEditPipeline.from_pretrained(tiny_checkpoint)
    assert pipe.sampling_defaults == SamplingDefaults(30, 7.5, 1.5)
    assert not (tiny_checkpoint / CONFIG_NAME).exists()


def test_export_model_writes_them_and_a_call_that_sets_none_uses_them(own_defaults, source_image):
    assert json.loads((own_defaults / CONFIG_NAME).read_text()) == {
        "mask_text_padding": False,
        "sampling": OWN,
        "source_skip": False,
    }
    pipe = RewardEditPipeline.from_pretrained(own_defaults)
    assert pipe.sampling_defaults == SamplingDefaults(**OWN)
    unset = edit(pipe, source_image)
    assert np.array_equal(unset, edit(pipe, source_image, **OWN))
    assert not np.array_equal(unset, edit(pipe, source_image, guidance_scale=7.5, image_guidance_scale=1.5))
    # A call overrides each one alone; the others stay the checkpoint's.
    overridden = {**OWN, "guidance_scale": 5.0}
    louder = edit(pipe, source_image, guidance_scale=5.0)
    assert np.array_equal(louder, edit(pipe, source_image, **overridden))


def test_they_survive_save_pretrained_and_a_partial_export(own_defaults, tmp_path):
    saved = RewardEditPipeline.from_pretrained(own_defaults).save_pretrained(tmp_path / "saved")
    assert (saved / CONFIG_NAME).read_text() == (own_defaults / CONFIG_NAME).read_text()
    again = rewardedit("export-model", str(saved), str(tmp_path / "again"), "--default-steps", "5")
    assert again.returncode == 0, again.stderr
    pipe = RewardEditPipeline.from_pretrained(tmp_path / "again", dtype=torch.float16)
    assert pipe.sampling_defaults == SamplingDefaults(**{**OWN, "num_inference_steps": 5})


def test_edit_without_flags_uses_them(own_defaults, tmp_path, source_image):
    source_image.save(tmp_path / "in.png")

    def cli_edit(name: str, *flags: str) -> np.ndarray:
        args = [
            "edit",
            str(tmp_path / "in.png"),
            "--instruction",
            "make it blue",
            "--out",
            str(tmp_path / name),
        ]
        result = rewardedit(*args, "--model", str(own_defaults), "--device", "cpu", *flags)
        assert result.returncode == 0, result.stderr
        return pixels(Image.open(tmp_path / name))

    explicit = ["--steps", "3", "--guidance-scale", "3", "--image-guidance-scale", "1"]
    assert np.array_equal(cli_edit("unset.png"), cli_edit("explicit.png", *explicit))
    ip2p_guidance = cli_edit("ip2p.png", "--steps", "3", "--guidance-scale", "7.5")
    assert not np.array_equal(cli_edit("unset.png"), ip2p_guidance)


@pytest.mark.parametrize(
    ("sampling", "message"),
    [
        ({"num_inference_steps": 0}, "num_inference_steps must be a positive integer"),
        ({"num_inference_steps": 2.5}, "num_inference_steps must be a positive integer"),
        ({"guidance_scale": -1}, "guidance_scale must be a finite number"),
        ({"image_guidance_scale": "1"}, "image_guidance_scale must be a finite number"),
        ({"image_guidance_scale": True}, "image_guidance_scale must be a finite number"),
        ({"steps": 10}, "keys among num_inference_steps"),
        ([10, 3, 1], "sampling must be an object"),
    ],
)
def test_bad_defaults_fail_loudly(own_defaults, tmp_path, sampling, message):
    folder = shutil.copytree(own_defaults, tmp_path / "bad")
    (folder / CONFIG_NAME).write_text(json.dumps({"sampling": sampling}))
    with pytest.raises(CheckpointError, match=message):
        RewardEditPipeline.from_pretrained(folder)


def test_export_model_refuses_bad_defaults(tiny_checkpoint, tmp_path):
    refused = rewardedit("export-model", str(tiny_checkpoint), str(tmp_path / "x"), "--default-steps", "0")
    assert refused.returncode == 2 and "num_inference_steps must be a positive integer" in refused.stderr
    assert not (tmp_path / "x").exists()
