"""`rewardedit make-model`, `export-model`, `edit` and `bench` end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from model import RewardEditPipeline, Rewards, build_preset


def rewardedit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rewardedit", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_export_model_to_fp16_halves_the_checkpoint_and_keeps_its_weights(tmp_path, tiny_checkpoint):
    out = tmp_path / "fp16"
    exported = rewardedit("export-model", str(tiny_checkpoint), str(out), "--dtype", "float16")
    assert exported.returncode == 0, exported.stderr

    def size(folder):
        return sum(f.stat().st_size for f in folder.rglob("*.safetensors"))

    assert 0.45 < size(out) / size(tiny_checkpoint) < 0.55
    original = RewardEditPipeline.from_pretrained(tiny_checkpoint).model.state_dict()
    half = RewardEditPipeline.from_pretrained(out, dtype=torch.float16).model.state_dict()
    assert original.keys() == half.keys()
    for name, weight in original.items():
        assert torch.equal(weight.half(), half[name]), name
    assert rewardedit("export-model", str(out), str(out)).returncode == 2  # never over its own source


def test_make_model_then_edit_writes_the_pipeline_output(tmp_path, source_image):
    made = rewardedit("make-model", "--preset", "tiny", str(tmp_path / "m"), "--seed", "3")
    assert made.returncode == 0, made.stderr
    source_image.save(tmp_path / "in.png")

    result = rewardedit(
        "edit",
        str(tmp_path / "in.png"),
        "--instruction",
        "make it blue",
        "--out",
        str(tmp_path / "out.png"),
        "--model",
        str(tmp_path / "m"),
        "--steps",
        "4",
        "--seed",
        "5",
        "--quality",
        "3.5",
        "--preserving-text",
        "the background changed",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    assert "4/4" in result.stderr  # the progress bar reached the last step

    pipe = RewardEditPipeline.from_pretrained(tmp_path / "m")
    expected = pipe(
        image=source_image,
        instruction="make it blue",
        num_inference_steps=4,
        rewards=Rewards(quality=3.5, preserving_text="the background changed"),
        generator=torch.Generator().manual_seed(5),
    ).images[0]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), np.asarray(expected))


def test_bench_compares_with_stock_pipeline_and_writes_json(tmp_path):
    result = rewardedit(
        "bench",
        "--preset",
        "tiny",
        "--resolution",
        "64",
        "--steps",
        "3",
        "--runs",
        "2",
        "--device",
        "cpu",
        "--json",
        str(tmp_path / "bench.json"),
    )
    assert result.returncode == 0, result.stderr
    assert "| stock_diffusers |" in result.stdout and "| rewardedit |" in result.stdout
    report = json.loads((tmp_path / "bench.json").read_text())
    assert {"stock_diffusers", "rewardedit", "rewardedit_optimized_batch"} <= set(report["results"])
    assert report["results"]["rewardedit"]["output_finite"]
    assert report["latency_ratio"] > 0


def test_export_model_converts_the_release_layout_to_ours(tmp_path, source_image):
    from tests.model.release import write_release_folder

    release = tmp_path / "stage2_reward_instruct_pix2pix"
    write_release_folder(build_preset("tiny", seed=2), release)
    exported = rewardedit("export-model", str(release), str(tmp_path / "ours"), "--dtype", "float32")
    assert exported.returncode == 0, exported.stderr
    reward_config = json.loads((tmp_path / "ours" / "reward" / "config.json").read_text())
    assert reward_config["_class_name"] == "ReleaseRewardConditionModel"

    def edited(folder) -> np.ndarray:
        pipe = RewardEditPipeline.from_pretrained(folder)
        out = pipe(
            image=source_image,
            instruction="make it blue",
            rewards=Rewards(quality=2),
            num_inference_steps=3,
            generator=torch.Generator().manual_seed(0),
        )
        return np.asarray(out.images[0])

    assert np.array_equal(edited(tmp_path / "ours"), edited(release))


def test_edit_samples_with_the_scheduler_asked_for(tmp_path, source_image, tiny_checkpoint):
    source_image.save(tmp_path / "in.png")
    common = [
        "edit",
        str(tmp_path / "in.png"),
        "--instruction",
        "make it blue",
        "--model",
        str(tiny_checkpoint),
    ]
    result = rewardedit(
        *common, "--out", str(tmp_path / "out.png"), "--steps", "3", "--scheduler", "dpmpp_2m"
    )
    assert result.returncode == 0, result.stderr
    expected = RewardEditPipeline.from_pretrained(tiny_checkpoint)(
        image=source_image,
        instruction="make it blue",
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(0),
        scheduler="dpmpp_2m",
    )
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), np.asarray(expected.images[0]))

    unknown = rewardedit(*common, "--out", str(tmp_path / "x.png"), "--scheduler", "k_lms")
    assert unknown.returncode == 2 and "euler_a" in unknown.stderr and not (tmp_path / "x.png").exists()


def test_make_model_writes_the_released_reward_architecture(tmp_path):
    made = rewardedit(
        "make-model", "--preset", "tiny", str(tmp_path / "m"), "--reward-architecture", "reward-inspix2pix"
    )
    assert made.returncode == 0, made.stderr
    assert (
        RewardEditPipeline.from_pretrained(tmp_path / "m").components.reward.architecture
        == "reward-inspix2pix"
    )


def test_bench_measures_the_released_architecture_without_reward_guidance(tmp_path):
    result = rewardedit(
        "bench", "--preset", "tiny", "--reward-architecture", "reward-inspix2pix", "--resolution", "64",
        "--steps", "2", "--runs", "1", "--warmup", "0", "--device", "cpu", "--json", str(tmp_path / "b.json"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["reward_architecture"] == "reward-inspix2pix"
    assert "rewardedit_reward_guidance" not in report["results"]
    assert (
        report["unet"]["flops_per_request_step"]["rewardedit"]
        > report["unet"]["flops_per_request_step"]["stock"]
    )
