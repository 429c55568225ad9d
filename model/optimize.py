"""Faster inference for a loaded RewardEditPipeline: memory layout, fused projections, torch.compile.

Both functions change the pipeline's own modules in place, for inference only: fused projections
add weights a checkpoint must not hold, so never save an optimised pipeline.

`optimize`: channels_last for the U-Net and the VAE (convolutions run NHWC, the layout GPU tensor
cores use) and fused attention projections (diffusers' `fuse_qkv_projections`: one matmul for q,
k and v of self-attention, one for k and v of cross-attention). The fused processors keep
diffusers' torch-2 default, `scaled_dot_product_attention` (flash / memory-efficient kernels).

`compile_buckets`: torch.compile of the reward-conditioned U-Net and the VAE decoder for a fixed
set of shapes, compiled and warmed up there by running the pipeline on each. A later call whose
shape is in the set runs the compiled code; any other runs the eager module, so no user ever
waits for a compilation. Batches are padded up to the next compiled batch size (rows of a U-Net
or decoder batch never interact, so padding changes no real row), which keeps the set small.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch._dynamo
from PIL import Image
from torch import nn

from .pipeline import EditRequest, RewardEditPipeline

logger = logging.getLogger(__name__)

DEFAULT_MODE = "reduce-overhead"
# Warm-up runs per shape: inductor's CUDA graphs run once plain, record on the next run, replay after.
WARMUP_RUNS = 3


@dataclass(frozen=True)
class Buckets:
    """The shapes compiled ahead: image sizes (width, height) times requests per `edit_batch`.

    Each also without reward guidance (3 U-Net rows per request) and, with `reward_guidance`, with it
    (4 rows); a service that never uses it, or a benchmark that does not time it, can skip those.
    """

    sizes: tuple[tuple[int, int], ...]
    batches: tuple[int, ...]
    reward_guidance: bool = True

    @property
    def reward_guidance_scales(self) -> tuple[float, ...]:
        """The scales warmed up: 1 (off), and 2 for any scale but 1, which adds the 4th branch."""
        return (1.0, 2.0) if self.reward_guidance else (1.0,)

    @property
    def unet_rows(self) -> tuple[int, ...]:
        branches = [3 if scale == 1.0 else 4 for scale in self.reward_guidance_scales]
        return tuple(sorted({rows * batch for batch in self.batches for rows in branches}))


def default_batches(max_batch: int) -> tuple[int, ...]:
    """1, 2, 4, ... below max_batch, and max_batch: a batch pads at most to twice its size."""
    batches = {max_batch}
    power = 1
    while power < max_batch:
        batches.add(power)
        power *= 2
    return tuple(sorted(batches))


class ShapeBuckets:
    """Replaces a module's forward: compiled code for warmed-up shapes, the eager forward for the rest."""

    def __init__(
        self,
        module: nn.Module,
        rows: tuple[int, ...],
        mode: str | None,
        backend: str | Callable[..., Any],
    ) -> None:
        self.module = module
        self.eager = module.forward
        # `mode` is an inductor option; other backends (tests count compilations with their own) take none.
        options = {"mode": mode} if backend == "inductor" else {}
        self.compiled = torch.compile(self.eager, fullgraph=True, dynamic=False, backend=backend, **options)
        self.rows = rows
        self.cudagraphs = backend == "inductor" and mode in ("reduce-overhead", "max-autotune")
        self.warm: set[tuple[Any, ...]] = set()
        self.warming = False
        module.forward = self

    def remove(self) -> None:
        """Give the module back its eager forward."""
        del self.module.forward

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        rows = args[0].shape[0]
        bucket = next((size for size in self.rows if size >= rows), None)
        key = (bucket, tuple(args[0].shape[1:]), args[0].dtype)
        if bucket is None or not (self.warming or key in self.warm):
            return self.eager(*args, **kwargs)
        args = tuple(_batch_input(value, rows, bucket) for value in args)
        kwargs = {name: _batch_input(value, rows, bucket) for name, value in kwargs.items()}
        if self.cudagraphs:
            # The previous call's outputs are consumed by now: let the CUDA graphs reuse their memory.
            torch.compiler.cudagraph_mark_step_begin()
        with contextlib.nullcontext() if self.warming else _eager_on_recompile():
            output = self.compiled(*args, **kwargs)
        self.warm.add(key)
        return output[:rows]


def _batch_input(value: Any, rows: int, bucket: int) -> Any:
    """A batched tensor padded to `bucket` rows (repeating the last), in the layout warm-up compiled for."""
    if not isinstance(value, torch.Tensor) or value.ndim == 0 or value.shape[0] != rows:
        return value
    if bucket > rows:
        value = torch.cat([value, value[-1:].expand(bucket - rows, *value.shape[1:])])
    fmt = torch.channels_last if value.ndim == 4 else torch.contiguous_format
    return value.contiguous(memory_format=fmt)


def _eager_on_recompile() -> contextlib.AbstractContextManager[None]:
    """Safety net beside the warmed-up keys: should a guard still fail, run eagerly, never recompile."""
    if hasattr(torch.compiler, "set_stance"):  # torch >= 2.6
        return torch.compiler.set_stance("eager_on_recompile")
    return contextlib.nullcontext()


def optimize(pipe: RewardEditPipeline) -> None:
    """channels_last and fused attention projections for the U-Net and the VAE, in place (call once).

    Meant for `compile_buckets`: eager, these made an sd15 batch of 8 about 10% slower on an H100
    (docs/performance.md), since eager GroupNorm and attention reshape channels_last tensors.
    """
    c = pipe.components
    for module in (c.unet, c.vae):
        module.to(memory_format=torch.channels_last)
        module.fuse_qkv_projections()


def restore(pipe: RewardEditPipeline) -> None:
    """Undo `optimize`: the default memory layout and the unfused attention processors again.

    The fused weights stay allocated, unused (diffusers keeps them): a few percent of the attention's.
    """
    c = pipe.components
    for module in (c.unet, c.vae):
        module.unfuse_qkv_projections()
        module.to(memory_format=torch.contiguous_format)


def compile_buckets(
    pipe: RewardEditPipeline,
    buckets: Buckets,
    mode: str = DEFAULT_MODE,
    backend: str | Callable[..., Any] = "inductor",
) -> float:
    """Compile the U-Net and the VAE decoder for the buckets' shapes and warm them up; the seconds taken.

    Call it once, after `optimize` and after moving the pipeline to its device. If compiling fails,
    the modules get their eager forward back and the error propagates.
    """
    started = time.perf_counter()
    if not pipe.components.reward.has_null_condition:
        buckets = replace(buckets, reward_guidance=False)  # it refuses reward guidance
    # Dynamo gives up compiling a function after `cache_size_limit` shapes (8 by default).
    limit = len(buckets.sizes) * len(buckets.unet_rows)
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, limit)
    wrappers = [
        ShapeBuckets(pipe.model, buckets.unet_rows, mode, backend),
        ShapeBuckets(pipe.components.vae.decoder, tuple(sorted(buckets.batches)), mode, backend),
    ]
    try:
        with _warming(wrappers):
            for (width, height), batch, reward_guidance in _warmup_shapes(buckets):
                for _ in range(WARMUP_RUNS):
                    _warmup_edit(pipe, width, height, batch, reward_guidance)
    except BaseException:
        for wrapper in wrappers:
            wrapper.remove()
        raise
    seconds = time.perf_counter() - started
    logger.info("compiled and warmed up %s in %.1f s", buckets, seconds)
    return seconds


def _warmup_shapes(buckets: Buckets) -> Iterator[tuple[tuple[int, int], int, float]]:
    for size in buckets.sizes:
        for batch in buckets.batches:
            for scale in buckets.reward_guidance_scales:
                yield size, batch, scale


@contextlib.contextmanager
def _warming(wrappers: list[ShapeBuckets]) -> Iterator[None]:
    for wrapper in wrappers:
        wrapper.warming = True
    try:
        yield
    finally:
        for wrapper in wrappers:
            wrapper.warming = False


def _warmup_edit(
    pipe: RewardEditPipeline, width: int, height: int, batch: int, reward_guidance: float
) -> None:
    """One short edit of `batch` requests: the same calls, shapes and layouts as real edits make."""
    image = Image.new("RGB", (width, height), (128, 128, 128))
    requests = [
        EditRequest(image, "warm up", reward_guidance_scale=reward_guidance, generator=torch.Generator())
        for _ in range(batch)
    ]
    pipe.edit_batch(requests, num_inference_steps=1, max_side=max(width, height))
