"""`rewardedit bench`: our pipeline against diffusers' stock InstructPix2Pix pipeline on the same weights.

Every variant runs in this one process on the same component objects, so they share weights,
device and dtype. What is compared (DESIGN.md section 6; docs/performance.md):

- `stock_diffusers`: diffusers' StableDiffusionInstructPix2PixPipeline, eager, one request;
- `rewardedit`: RewardEditPipeline, eager, reward guidance off (the three diffusers branches plus
  the reward modules), one request: its cost over stock is what the reward modules cost;
- `rewardedit_reward_guidance`: the same with reward guidance on (a fourth branch), one request;
- `rewardedit_batch`: eager, one `edit_batch` of N requests (each its own seed);
- `rewardedit_optimized`: after `model.optimize` (channels_last, fused attention projections and,
  with compile, torch.compile of the U-Net and VAE decoder warmed up for these shapes), one request;
- `rewardedit_optimized_batch`: optimised, one `edit_batch` of N requests.

N requests run one at a time take N times the one-request time, so throughputs compare directly.
Each variant has warm-up runs, then timed runs: median, min and max, peak memory. The variants
that are compared with each other (the eager ones; the optimised ones) take their timed runs in
turn, so drift in clocks or host load falls on all of them alike. The U-Net is also timed on its
own, one denoising step, against its FLOPs and the GPU's peak.
"""

from __future__ import annotations

import importlib.metadata
import logging
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import StableDiffusionInstructPix2PixPipeline
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .checkpoint import Components
from .optimize import DEFAULT_MODE, Buckets, compile_buckets, optimize
from .pipeline import EditRequest, RewardEditPipeline, resolve_device
from .presets import make_model
from .rewards import Rewards

logger = logging.getLogger(__name__)

INSTRUCTION = "make the sky purple"
GUIDANCE = {"guidance_scale": 7.5, "image_guidance_scale": 1.5}

# Dense (no sparsity) FP16/BF16 tensor-core peaks in TFLOP/s, matched against the CUDA device name in
# this order. Sources: NVIDIA H100 Tensor Core GPU datasheet (SXM 1,979 and PCIe 1,513 TFLOPS "with
# sparsity", half that dense) and NVIDIA H200 datasheet (1,979 with sparsity). Other GPUs: unknown.
PEAK_TFLOPS: tuple[tuple[str, float, str], ...] = (
    ("H200", 989.0, "NVIDIA H200 datasheet (1,979 TFLOPS FP16 with sparsity; dense is half)"),
    ("H100 PCIe", 756.0, "NVIDIA H100 datasheet, PCIe (1,513 TFLOPS FP16 with sparsity; dense is half)"),
    ("H100 80GB HBM3", 989.0, "NVIDIA H100 datasheet, SXM (1,979 TFLOPS FP16 with sparsity; dense is half)"),
    ("H100 SXM", 989.0, "NVIDIA H100 datasheet, SXM (1,979 TFLOPS FP16 with sparsity; dense is half)"),
)


@dataclass
class BenchConfig:
    model: Path | None = None  # None: build `preset` into a temporary folder
    preset: str = "sd15"
    reward_architecture: str = "rewardedit"  # of the preset: ours or the paper's released one
    resolution: int = 512
    steps: int = 30
    runs: int = 5
    warmup: int = 1
    device: str = "cpu"
    batch_size: int = 8
    reward_guidance_scale: float = 2.0
    compile: bool | None = None  # None: on CUDA only (compiling on a CPU takes long and gains little)
    compile_mode: str = DEFAULT_MODE
    unet_calls: int = 10


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
        scheduler=type(components.scheduler).from_config(components.scheduler.config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def gpu_peak(name: str) -> dict[str, Any]:
    """A GPU's dense FP16 peak from PEAK_TFLOPS, with where the figure comes from; None where unknown."""
    for pattern, tflops, source in PEAK_TFLOPS:
        if pattern in name:
            return {"tflops": tflops, "source": source}
    return {"tflops": None, "source": f"unknown for {name}"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Variant:
    """One way of running whole edits; `against`: the variant whose first image this one's should match."""

    name: str
    description: str
    run: Callable[[], list[Image.Image]]
    against: str | None = None


def _time_interleaved(
    variants: list[Variant], config: BenchConfig, device: torch.device
) -> dict[str, tuple[dict[str, Any], list[Image.Image]]]:
    """Warm-up runs, then timed runs taken round-robin, so drift (clocks, the host) hits every variant alike.

    Figures per variant: median, min and max seconds, images per second, peak memory over its own
    runs, whether its output is finite; and the last run's images.
    """
    for variant in variants:
        for _ in range(config.warmup):
            variant.run()
    seconds: dict[str, list[float]] = {variant.name: [] for variant in variants}
    peaks: dict[str, int] = dict.fromkeys(seconds, 0)
    images: dict[str, list[Image.Image]] = {}
    for _ in range(config.runs):
        for variant in variants:
            _sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            images[variant.name] = variant.run()
            _sync(device)
            seconds[variant.name].append(time.perf_counter() - start)
            if device.type == "cuda":
                peaks[variant.name] = max(peaks[variant.name], torch.cuda.max_memory_allocated(device))
    results = {}
    for name, times in seconds.items():
        median = statistics.median(times)
        figures = {
            "requests": len(images[name]),
            "median_s": median,
            "min_s": min(times),
            "max_s": max(times),
            "images_per_s": len(images[name]) / median,
            "peak_mem_gib": peaks[name] / 2**30 if device.type == "cuda" else None,
            "output_finite": all(
                np.isfinite(np.asarray(image, dtype=np.float32)).all() for image in images[name]
            ),
        }
        results[name] = (figures, images[name])
    return results


def _max_difference(images: list[Image.Image], reference: list[Image.Image]) -> int:
    """Largest per-pixel difference (0-255) of the first image against the reference's first."""
    ours, theirs = (np.asarray(batch[0], dtype=np.int16) for batch in (images, reference))
    return int(np.abs(ours - theirs).max())


# -- the U-Net alone --------------------------------------------------------------------------------
def _cpu_flash_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """torch counts the CUDA attention kernels' FLOPs but not the CPU one's; the formula is the same."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


@torch.no_grad()
def unet_inputs(pipe: RewardEditPipeline, rows: int, resolution: int, steps: int) -> tuple[torch.Tensor, ...]:
    """One denoising step's U-Net inputs for `rows` branch rows: latents, timestep, text, reward."""
    c = pipe.components
    latent = resolution // pipe.vae_scale_factor
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn((rows, c.unet.config.in_channels, latent, latent), generator=generator)
    c.scheduler.set_timesteps(steps, device=pipe.device)
    text = pipe.encode_text([INSTRUCTION])
    condition = pipe.encode_rewards([Rewards()])
    return (
        sample.to(pipe.device, pipe.dtype),
        c.scheduler.timesteps[0],
        text.repeat(rows, 1, 1),
        condition.repeat(rows, *[1] * (condition.dim() - 1)),
    )


def _stock_unet(pipe: RewardEditPipeline) -> Callable[..., torch.Tensor]:
    """The plain U-Net as the stock pipeline calls it (the reward condition is ignored)."""
    unet = pipe.components.unet

    def denoise(sample: torch.Tensor, t: torch.Tensor, text: torch.Tensor, condition: torch.Tensor):
        return unet(sample, t, encoder_hidden_states=text, return_dict=False)[0]

    return denoise


@torch.no_grad()
def unet_flops(denoise: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> int:
    """FLOPs of one U-Net call (torch's FlopCounterMode: matmuls, convolutions, attention)."""
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_attention_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        denoise(*inputs)
    return counter.get_total_flops()


@torch.no_grad()
def time_unet(
    denoise: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], calls: int, device: torch.device
) -> float:
    """Median seconds of one U-Net call, after two untimed ones."""
    seconds = []
    for index in range(calls + 2):
        _sync(device)
        start = time.perf_counter()
        denoise(*inputs)
        _sync(device)
        if index >= 2:
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


class _Bench:
    """The figures gathered so far, on one device: variants (whole edits) and U-Net calls."""

    def __init__(self, config: BenchConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.peak = gpu_peak(device_name(device))
        self.results: dict[str, dict[str, Any]] = {}
        self.images: dict[str, list[Image.Image]] = {}
        self.unet: dict[str, dict[str, Any]] = {}

    def variants(self, *variants: Variant) -> None:
        """Time a group of variants side by side (their runs interleaved)."""
        timed = _time_interleaved(list(variants), self.config, self.device)
        for variant in variants:
            figures, self.images[variant.name] = timed[variant.name]
            against = variant.against
            difference = _max_difference(self.images[variant.name], self.images[against]) if against else None
            self.results[variant.name] = {
                "description": variant.description,
                **figures,
                "compared_with": against,
                "max_pixel_difference": difference,
            }
            # Logged as measured, so a run cut short (or a compile that fails) still shows what it had.
            logger.info("%s: %s", variant.name, self.results[variant.name])

    def unet_call(
        self, name: str, denoise: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], flops: int
    ) -> None:
        """Time one U-Net call, and set its FLOPs against the time and the GPU's peak."""
        seconds = time_unet(denoise, inputs, self.config.unet_calls, self.device)
        tflops = flops / seconds / 1e12
        self.unet[name] = {
            "rows": inputs[0].shape[0],
            "median_ms": seconds * 1e3,
            "tflops": tflops,
            "fraction_of_peak": tflops / self.peak["tflops"] if self.peak["tflops"] else None,
        }
        logger.info("U-Net %s: %s", name, self.unet[name])


# -- the whole benchmark ----------------------------------------------------------------------------
def run_benchmark(config: BenchConfig) -> dict[str, Any]:
    """Time every variant on the same weights and inputs; figures, U-Net figures and their ratios."""
    device = resolve_device(config.device)
    compile_modules = config.compile if config.compile is not None else device.type == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        model_path = config.model or make_model(
            config.preset, Path(tmp) / config.preset, reward_architecture=config.reward_architecture
        )
        ours = RewardEditPipeline.from_pretrained(model_path, device=device)
    stock = stock_pipeline(ours.components)
    image = bench_image(config.resolution)
    batch = config.batch_size
    bench = _Bench(config, device)

    def run_ours(requests: int = 1, reward_guidance: float = 1.0) -> list[Image.Image]:
        edits = [
            EditRequest(
                image,
                INSTRUCTION,
                reward_guidance_scale=reward_guidance,
                generator=torch.Generator().manual_seed(seed),
                **GUIDANCE,
            )
            for seed in range(requests)
        ]
        return ours.edit_batch(edits, config.steps, config.resolution).images

    def run_stock() -> list[Image.Image]:
        generator = torch.Generator().manual_seed(0)
        return stock(
            prompt=INSTRUCTION, image=image, generator=generator, num_inference_steps=config.steps, **GUIDANCE
        ).images

    single = unet_inputs(ours, 3, config.resolution, config.steps)
    batched = tuple(x.repeat(batch, *([1] * (x.ndim - 1))) if x.ndim else x for x in single)
    flops = {"stock": unet_flops(_stock_unet(ours), single), "rewardedit": unet_flops(ours.model, single)}
    bench.unet_call("stock_diffusers", _stock_unet(ours), single, flops["stock"])
    bench.unet_call("rewardedit", ours.model, single, flops["rewardedit"])
    # A batch keeps the GPU busy, so this pair shows the reward modules' cost without launch jitter.
    bench.unet_call("stock_diffusers_batch", _stock_unet(ours), batched, flops["stock"] * batch)
    bench.unet_call("rewardedit_batch", ours.model, batched, flops["rewardedit"] * batch)

    reward_guided = [
        Variant(
            "rewardedit_reward_guidance",
            f"RewardEditPipeline, eager, reward guidance {config.reward_guidance_scale:g} (4th branch)",
            lambda: run_ours(reward_guidance=config.reward_guidance_scale),
        )
    ]
    bench.variants(
        Variant("stock_diffusers", "diffusers StableDiffusionInstructPix2PixPipeline, eager", run_stock),
        Variant("rewardedit", "RewardEditPipeline, eager, reward guidance off", run_ours, "stock_diffusers"),
        # Reward guidance needs a learned null reward, which the released architecture lacks.
        *(reward_guided if ours.components.reward.has_null_condition else []),
        Variant(
            "rewardedit_batch", f"eager, one edit_batch of {batch}", lambda: run_ours(batch), "rewardedit"
        ),
    )

    optimize(ours)
    optimization: dict[str, Any] = {"channels_last": True, "fused_qkv": True, "compiled": compile_modules}
    what = "channels_last, fused QKV"
    if compile_modules:
        # Only the shapes timed below: no reward guidance, one request and a batch.
        buckets = Buckets(
            ((config.resolution, config.resolution),), tuple(sorted({1, batch})), reward_guidance=False
        )
        optimization["compile_mode"] = config.compile_mode
        optimization["warmup_s"] = compile_buckets(ours, buckets, config.compile_mode)
        what += f", torch.compile ({config.compile_mode})"
    bench.variants(
        Variant("rewardedit_optimized", what, run_ours, "rewardedit"),
        Variant(
            "rewardedit_optimized_batch",
            f"{what}, one edit_batch of {batch}",
            lambda: run_ours(batch),
            "rewardedit",
        ),
    )
    bench.unet_call("rewardedit_optimized", ours.model, single, flops["rewardedit"])
    bench.unet_call("rewardedit_optimized_batch", ours.model, batched, flops["rewardedit"] * batch)

    results = bench.results
    stock_s = results["stock_diffusers"]["median_s"]
    optimized_batch = results["rewardedit_optimized_batch"]["images_per_s"]
    return {
        "config": {**asdict(config), "model": str(config.model) if config.model else None},
        "device": device_name(device),
        "dtype": str(ours.dtype).removeprefix("torch."),
        "reward_architecture": ours.components.reward.architecture,
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "diffusers": importlib.metadata.version("diffusers"),
        },
        "optimization": optimization,
        "results": results,
        "unet": {"flops_per_request_step": flops, "gpu_peak": bench.peak, "calls": bench.unet},
        # Linux reports the resident-set peak in KiB; it covers the whole process, every variant.
        "process_peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "latency_ratio": results["rewardedit"]["median_s"] / stock_s,
        "summary": {
            "reward_modules_overhead": results["rewardedit"]["median_s"] / stock_s - 1,
            "optimized_speedup_vs_stock": stock_s / results["rewardedit_optimized"]["median_s"],
            "batch_throughput_vs_stock": optimized_batch * stock_s,
            "batch_throughput_vs_one_at_a_time": optimized_batch
            * results["rewardedit_optimized"]["median_s"],
        },
    }


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def format_markdown(result: dict[str, Any]) -> str:
    """The report as Markdown tables: variants, U-Net steps, and the issue's goals."""
    cfg = result["config"]
    batch = cfg["batch_size"]
    lines = [
        f"{result['device']}, {result['dtype']}, {cfg['resolution']}x{cfg['resolution']} px, "
        f"{cfg['steps']} steps; median, min and max of {cfg['runs']} runs after {cfg['warmup']} warm-up; "
        f"torch {result['versions']['torch']}, diffusers {result['versions']['diffusers']}",
        "",
        "| variant | what | requests | median s | min s | max s | images/s | peak GiB | max px diff |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in result["results"].items():
        against = r["compared_with"]
        difference = "" if against is None else f"{r['max_pixel_difference']} vs {against}"
        lines.append(
            f"| {name} | {r['description']} | {r['requests']} | {r['median_s']:.3f} | {r['min_s']:.3f} "
            f"| {r['max_s']:.3f} | {r['images_per_s']:.2f} | {_number(r['peak_mem_gib'], '.2f')} "
            f"| {difference} |"
        )
    unet = result["unet"]
    flops = unet["flops_per_request_step"]
    peak = unet["gpu_peak"]
    lines += [
        "",
        f"U-Net, one denoising step (3 guidance branches per request): {flops['stock'] / 1e9:.2f} GFLOP "
        f"stock, {flops['rewardedit'] / 1e9:.2f} GFLOP with the {result['reward_architecture']} reward "
        f"modules ({flops['rewardedit'] / flops['stock'] - 1:+.1%}), per request; GPU dense "
        f"FP16 peak: {_number(peak['tflops'], '.0f')} TFLOP/s ({peak['source']})",
        "",
        "| U-Net call | rows | median ms | TFLOP/s | of peak |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, u in unet["calls"].items():
        lines.append(
            f"| {name} | {u['rows']} | {u['median_ms']:.2f} | {u['tflops']:.3f} "
            f"| {_number(u['fraction_of_peak'], '.1%')} |"
        )
    summary = result["summary"]
    lines += [
        "",
        "- reward modules over stock (guidance off): "
        f"{summary['reward_modules_overhead']:+.1%} (goal: at most +3%)",
        "- optimised one-request speed-up over stock: "
        f"{summary['optimized_speedup_vs_stock']:.2f}x (goal: at least 2x)",
        f"- optimised batch of {batch}, throughput over stock one at a time: "
        f"{summary['batch_throughput_vs_stock']:.2f}x (goal: at least 3x)",
        f"- optimised batch of {batch} over optimised one at a time: "
        f"{summary['batch_throughput_vs_one_at_a_time']:.2f}x",
        f"- process peak RSS: {result['process_peak_rss_gib']:.2f} GiB",
    ]
    return "\n".join(lines)
