"""`rewardedit bench`: our pipeline against diffusers' stock InstructPix2Pix pipeline on the same weights."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline
from PIL import Image

from .checkpoint import Components
from .pipeline import RewardEditPipeline, resolve_device
from .presets import make_model

INSTRUCTION = "make the sky purple"


@dataclass
class BenchConfig:
    model: Path | None = None  # None: build `preset` into a temporary folder
    preset: str = "sd15"
    resolution: int = 512
    steps: int = 30
    runs: int = 5
    warmup: int = 1
    device: str = "cpu"


def bench_image(resolution: int) -> Image.Image:
    """A deterministic test picture with edges and gradients."""
    ramp = np.linspace(0, 255, resolution, dtype=np.float32)
    array = np.stack(
        [
            ramp[None, :].repeat(resolution, 0),
            ramp[:, None].repeat(resolution, 1),
            np.full((resolution, resolution), 96, np.float32),
        ],
        axis=-1,
    )
    quarter = resolution // 4
    array[quarter : 3 * quarter, quarter : 3 * quarter] = (230, 200, 40)
    return Image.fromarray(array.astype(np.uint8))


def stock_pipeline(components: Components) -> StableDiffusionInstructPix2PixPipeline:
    """diffusers' own InstructPix2Pix pipeline on the same component objects (the same weights)."""
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=components.vae,
        text_encoder=components.text_encoder,
        tokenizer=components.tokenizer,
        unet=components.unet,
        scheduler=EulerAncestralDiscreteScheduler.from_config(components.scheduler.config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _time_runs(fn: Callable[[], Image.Image], config: BenchConfig, device: torch.device) -> dict:
    for _ in range(config.warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    seconds, image = [], None
    for _ in range(config.runs):
        start = time.perf_counter()
        image = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    pixels = np.asarray(image, dtype=np.float32)
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
        "output_finite": bool(np.isfinite(pixels).all()),
        "output_std": float(pixels.std()),
    }


def run_benchmark(config: BenchConfig) -> dict:
    """Time both pipelines on the same weights and inputs; return figures and their ratio."""
    device = resolve_device(config.device)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = config.model or make_model(config.preset, Path(tmp) / config.preset)
        ours = RewardEditPipeline.from_pretrained(model_path, device=device)
    stock = stock_pipeline(ours.components)
    image = bench_image(config.resolution)
    common = {"num_inference_steps": config.steps, "guidance_scale": 7.5, "image_guidance_scale": 1.5}

    def run_ours() -> Image.Image:
        generator = torch.Generator().manual_seed(0)
        return ours(
            image=image, instruction=INSTRUCTION, generator=generator, max_side=config.resolution, **common
        ).images[0]

    def run_stock() -> Image.Image:
        generator = torch.Generator().manual_seed(0)
        return stock(prompt=INSTRUCTION, image=image, generator=generator, **common).images[0]

    results = {
        "stock_diffusers": _time_runs(run_stock, config, device),
        "rewardedit": _time_runs(run_ours, config, device),
    }
    return {
        "config": {**asdict(config), "model": str(config.model) if config.model else None},
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": str(ours.dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "results": results,
        "latency_ratio": results["rewardedit"]["median_s"] / results["stock_diffusers"]["median_s"],
    }


def format_markdown(result: dict) -> str:
    cfg = result["config"]
    lines = [
        f"{result['device']}, {result['dtype']}, {cfg['resolution']}px, {cfg['steps']} steps, "
        f"median of {cfg['runs']} runs after {cfg['warmup']} warm-up",
        "",
        "| pipeline | median s/image | min | max | peak GiB | finite output |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in result["results"].items():
        peak = f"{r['peak_mem_gib']:.2f}" if r["peak_mem_gib"] is not None else "n/a"
        times = " | ".join(f"{r[key]:.3f}" for key in ("median_s", "min_s", "max_s"))
        lines.append(f"| {name} | {times} | {peak} | {r['output_finite']} |")
    lines.append("")
    lines.append(f"rewardedit / stock latency ratio: {result['latency_ratio']:.3f}")
    return "\n".join(lines)
