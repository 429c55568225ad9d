"""Bad inputs to the pipeline and the CLI give clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from model import CheckpointError, InvalidInputError, RewardEditPipeline, Rewards
from model.image import load_image


@pytest.fixture(scope="module")
def pipe(tiny_checkpoint) -> RewardEditPipeline:
    return RewardEditPipeline.from_pretrained(tiny_checkpoint)


def test_image_under_64_px_is_refused(pipe):
    with pytest.raises(InvalidInputError, match="at least 64"):
        pipe(image=Image.new("RGB", (200, 63)), instruction="make it blue", num_inference_steps=1)


@pytest.mark.parametrize("instruction", ["", "   ", None])
def test_empty_instruction_is_refused(pipe, source_image, instruction):
    with pytest.raises(InvalidInputError, match="instruction"):
        pipe(image=source_image, instruction=instruction, num_inference_steps=1)


@pytest.mark.parametrize("score", [-0.1, 5.01, float("nan"), float("inf"), "5", True])
def test_scores_outside_0_to_5_are_refused(score):
    with pytest.raises(InvalidInputError, match="following"):
        Rewards(following=score)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"guidance_scale": -1.0}, "guidance_scale"),
        ({"reward_guidance_scale": float("nan")}, "reward_guidance_scale"),
        ({"rewards": {"following": 5}}, "Rewards"),
    ],
)
def test_bad_sampling_arguments_are_refused(pipe, source_image, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        pipe(image=source_image, instruction="make it blue", **kwargs)


def test_unreadable_file_is_refused(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not a PNG")
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_image(bad)


def test_missing_model_folder_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        RewardEditPipeline.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"model_index\.json"):
        RewardEditPipeline.from_pretrained(tmp_path / "empty")


def rewardedit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rewardedit", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def good_png(tmp_path, source_image):
    path = tmp_path / "in.png"
    source_image.save(path)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input": "missing.png"}, "does not exist"),
        ({"input": "text.png"}, "cannot read"),
        ({"input": "small.png"}, "at least 64"),
        ({"--following": "7"}, "must be in [0, 5]"),
        ({"--instruction": ""}, "non-empty"),
        ({"--model": "no-such-model"}, "does not exist"),
    ],
    ids=[
        "missing-input",
        "unreadable-input",
        "small-image",
        "score-out-of-range",
        "empty-instruction",
        "no-model",
    ],
)
def test_cli_edit_reports_bad_inputs_clearly(tmp_path, tiny_checkpoint, good_png, change, message):
    (tmp_path / "text.png").write_text("not an image")
    Image.new("RGB", (40, 40)).save(tmp_path / "small.png")
    options = {
        "--instruction": "make it blue",
        "--out": str(tmp_path / "out.png"),
        "--model": str(tiny_checkpoint),
        "--steps": "2",
    }
    input_path = str(good_png)
    for key, value in change.items():
        if key == "input":
            input_path = str(tmp_path / value)
        else:
            options[key] = value if key != "--model" else str(tmp_path / value)
    result = rewardedit("edit", input_path, *[x for pair in options.items() for x in pair])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists()
