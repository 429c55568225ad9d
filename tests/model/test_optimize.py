"""model.optimize keeps the eager pipeline's images; compiled shapes never recompile; the bench reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import Attention
from PIL import Image, ImageOps

from model import EditRequest, RewardEditPipeline, Rewards
from model.benchmark import BenchConfig, format_markdown, gpu_peak, run_benchmark
from model.optimize import Buckets, compile_buckets, default_batches, optimize, restore
from model.presets import make_model

from .helpers import pixels, randomize_rewards


def fresh_pipe(checkpoint) -> RewardEditPipeline:
    """Optimising changes the modules in place: every test gets its own pipeline, rewards acting."""
    pipe = RewardEditPipeline.from_pretrained(checkpoint)
    randomize_rewards(pipe.components.reward)
    return pipe


def edit(
    pipe: RewardEditPipeline, image: Image.Image, requests: int = 1, reward_guidance: float = 1.0
) -> list[np.ndarray]:
    edits = [
        EditRequest(
            ImageOps.mirror(image) if seed % 2 else image,
            "make it blue",
            Rewards(following=4.0 - seed),
            reward_guidance_scale=reward_guidance,
            generator=torch.Generator().manual_seed(seed),
        )
        for seed in range(requests)
    ]
    size = max(image.size)
    return [pixels(out) for out in pipe.edit_batch(edits, num_inference_steps=3, max_side=size).images]


def assert_close(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    for ours, theirs in zip(actual, expected, strict=True):
        assert np.abs(ours - theirs).max() <= 1


class CountingBackend:
    """A torch.compile backend that runs the captured graph as is and counts compilations."""

    def __init__(self) -> None:
        self.compiled = 0

    def __call__(self, graph: torch.fx.GraphModule, example_inputs: Any) -> Callable[..., Any]:
        self.compiled += 1
        return graph.forward


def test_channels_last_and_fused_projections_keep_the_eager_images_and_restore_undoes_them(
    tiny_checkpoint, source_image
):
    pipe = fresh_pipe(tiny_checkpoint)
    eager = edit(pipe, source_image, requests=2) + edit(pipe, source_image, reward_guidance=2.0)
    optimize(pipe)
    unet = pipe.components.unet
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    attentions = [module for module in unet.modules() if isinstance(module, Attention)]
    assert attentions and all(attention.fused_projections for attention in attentions)
    assert_close(edit(pipe, source_image, requests=2) + edit(pipe, source_image, reward_guidance=2.0), eager)

    restore(pipe)
    assert unet.conv_in.weight.is_contiguous()
    assert not any("Fused" in type(attention.processor).__name__ for attention in attentions)
    assert_close(edit(pipe, source_image, requests=2) + edit(pipe, source_image, reward_guidance=2.0), eager)


def test_compiled_shapes_run_without_recompiling_and_other_shapes_run_eagerly(tiny_checkpoint, source_image):
    pipe = fresh_pipe(tiny_checkpoint)
    large = source_image.resize((128, 128))
    expected = {
        "one": edit(pipe, source_image),
        "two guided": edit(pipe, source_image, requests=2, reward_guidance=2.0),
        "three": edit(pipe, source_image, requests=3),
        "large": edit(pipe, large),
    }
    optimize(pipe)
    backend = CountingBackend()
    compile_buckets(pipe, Buckets(sizes=((64, 64),), batches=(2,)), backend=backend)
    # U-Net rows 6 and 8 (two requests, 3 or 4 branches); decoder batch 2.
    assert backend.compiled == 3

    assert_close(edit(pipe, source_image), expected["one"])  # padded to two requests
    assert_close(edit(pipe, source_image, requests=2, reward_guidance=2.0), expected["two guided"])
    assert backend.compiled == 3  # warmed-up shapes
    assert_close(edit(pipe, source_image, requests=3), expected["three"])  # beyond the largest batch
    assert_close(edit(pipe, large), expected["large"])  # a size not compiled
    assert backend.compiled == 3  # both ran eagerly


def test_a_failed_compilation_leaves_the_eager_modules(tiny_checkpoint, source_image):
    pipe = fresh_pipe(tiny_checkpoint)
    expected = edit(pipe, source_image)

    def broken(graph: torch.fx.GraphModule, example_inputs: Any) -> Callable[..., Any]:
        raise RuntimeError("no compiler here")

    with pytest.raises(Exception, match="no compiler here"):
        compile_buckets(pipe, Buckets(sizes=((64, 64),), batches=(1,)), backend=broken)
    assert "forward" not in vars(pipe.model) and "forward" not in vars(pipe.components.vae.decoder)
    assert_close(edit(pipe, source_image), expected)


def test_default_batches_double_up_to_the_largest():
    assert default_batches(8) == (1, 2, 4, 8)
    assert default_batches(6) == (1, 2, 4, 6)
    assert default_batches(1) == (1,)
    assert Buckets(sizes=((512, 512),), batches=(1, 8)).unet_rows == (3, 4, 24, 32)
    assert Buckets(sizes=((512, 512),), batches=(1, 8), reward_guidance=False).unet_rows == (3, 24)


def test_gpu_peaks_come_from_the_datasheet_table():
    assert gpu_peak("NVIDIA H100 80GB HBM3")["tflops"] == 989.0
    assert gpu_peak("NVIDIA H100 PCIe")["tflops"] == 756.0
    assert gpu_peak("NVIDIA H200")["tflops"] == 989.0
    unknown = gpu_peak("NVIDIA A10G")
    assert unknown["tflops"] is None and "unknown" in unknown["source"]


def test_bench_compares_every_variant_with_spread_memory_and_flops(tiny_checkpoint):
    config = BenchConfig(
        model=tiny_checkpoint, resolution=64, steps=1, runs=2, warmup=0, batch_size=2, unet_calls=1
    )
    report = run_benchmark(config)
    assert set(report["results"]) == {
        "stock_diffusers",
        "rewardedit",
        "rewardedit_reward_guidance",
        "rewardedit_batch",
        "rewardedit_optimized",
        "rewardedit_optimized_batch",
    }
    for name, figures in report["results"].items():
        assert 0 < figures["min_s"] <= figures["median_s"] <= figures["max_s"], name
        assert figures["output_finite"] and figures["peak_mem_gib"] is None  # no CUDA memory on a CPU
    assert report["results"]["rewardedit_batch"]["requests"] == 2
    for name in ("rewardedit_batch", "rewardedit_optimized", "rewardedit_optimized_batch"):
        assert report["results"][name]["max_pixel_difference"] <= 1, name  # the same first image
    flops = report["unet"]["flops_per_request_step"]
    assert flops["rewardedit"] > flops["stock"] > 0  # the reward modules add a little
    calls = report["unet"]["calls"]
    assert calls["rewardedit_batch"]["rows"] == calls["stock_diffusers_batch"]["rows"] == 6
    assert report["optimization"]["compiled"] is False  # on a CPU by default
    assert report["process_peak_rss_gib"] > 0
    markdown = format_markdown(report)
    assert "| rewardedit_optimized_batch |" in markdown and "goal: at least 3x" in markdown


def test_a_checkpoint_without_null_reward_compiles_without_the_reward_guided_shapes(tmp_path, source_image):
    make_model("tiny", tmp_path / "release", reward_architecture="reward-inspix2pix")
    pipe = fresh_pipe(tmp_path / "release")
    expected = edit(pipe, source_image, requests=2)
    optimize(pipe)
    backend = CountingBackend()
    compile_buckets(pipe, Buckets(sizes=((64, 64),), batches=(2,), reward_guidance=True), backend=backend)
    assert backend.compiled == 2  # U-Net rows 6 (no 4th branch to warm up) and decoder batch 2
    assert_close(edit(pipe, source_image, requests=2), expected)
