"""Stopping a pipeline call inside a step, where a step is too long a unit of waiting.

The pipeline asks its callback whether to go on after every step. On a CPU one step of a large
edit takes minutes, so a canceled job would hold its worker that long. The runner therefore also
hooks the blocks of the U-Net and the VAE (each resnet, attention, feed-forward and resampling
block: dozens per step) with a check that raises EditCanceled once every job of the call is lost; the lease
keeper finds that out within half a second of a DELETE (worker/leases.py). One attention over a
large image is itself minutes on a CPU (the demo model's VAE attends over 65,536 positions at
1024 px), so while a call is armed, attention with more than MAX_SCORES query-key pairs runs in
query chunks with the check between them: the same numbers up to float rounding (each query's
softmax is its own), in less memory. Compiled modules get none of this: their steps take
milliseconds, and a Python check in them would break their graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D
from torch import nn
from torch.overrides import TorchFunctionMode

from model import EditCanceled, RewardEditPipeline
from model.pipeline import StepCallback

HOOKED_BLOCKS = (ResnetBlock2D, Attention, FeedForward, Downsample2D, Upsample2D)
# Query-key pairs one attention call computes at once: a 64x64-latent self-attention, a fraction
# of a second on a CPU. Below it attention runs as it always does.
MAX_SCORES = 4096 * 4096


class MidStepStop:
    """Checks before the blocks of a pipeline, and inside its large attention, armed one call at a time."""

    def __init__(self, pipeline: RewardEditPipeline) -> None:
        self._should_stop: Callable[[], bool] | None = None
        self._progress = (0, 0)
        modules = (*pipeline.components.unet.modules(), *pipeline.components.vae.modules())
        self.blocks = [module for module in modules if isinstance(module, HOOKED_BLOCKS)]
        for module in self.blocks:
            module.register_forward_pre_hook(self._before_block)
            if isinstance(module, Attention):
                module.set_processor(ChunkedAttention(module.processor, self))

    @property
    def armed(self) -> bool:
        return self._should_stop is not None

    @contextmanager
    def arm(self, should_stop: Callable[[], bool], total: int) -> Iterator[None]:
        """For the call inside: the checks raise EditCanceled as soon as should_stop() says so."""
        self._should_stop, self._progress = should_stop, (0, total)
        try:
            yield
        finally:
            self._should_stop = None

    def tracking(self, on_step: StepCallback) -> StepCallback:
        """on_step, also noting the steps done, which the EditCanceled of a stop reports."""

        def callback(step: int, total: int) -> bool | None:
            self._progress = (step, total)
            return on_step(step, total)

        return callback

    def check(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise EditCanceled(*self._progress)

    def _before_block(self, module: nn.Module, args: Any) -> None:
        self.check()


class ChunkedAttention:
    """An attention processor: the block's own, with large attention chunked while a call is armed."""

    def __init__(self, inner: Callable[..., torch.Tensor], stop: MidStepStop) -> None:
        self._inner = inner
        self._stop = stop

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The parameters of diffusers' processors, which Attention reads to pass its arguments on."""
        args = (attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if not self._stop.armed:
            return self._inner(*args, **kwargs)
        with ChunkedScores(self._stop.check):
            return self._inner(*args, **kwargs)


class ChunkedScores(TorchFunctionMode):
    """Within it, scaled_dot_product_attention over more than MAX_SCORES pairs runs in query chunks,
    calling check() before each."""

    def __init__(self, check: Callable[[], None]) -> None:
        super().__init__()
        self._check = check

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is not F.scaled_dot_product_attention or kwargs.get("is_causal"):
            return func(*args, **kwargs)
        query, key, *rest = args
        queries, keys = query.shape[-2], key.shape[-2]
        if queries * keys <= MAX_SCORES:
            return func(*args, **kwargs)
        mask = kwargs.get("attn_mask")
        rows = max(1, MAX_SCORES // keys)
        chunks = []
        for start in range(0, queries, rows):
            self._check()
            if mask is not None and mask.shape[-2] == queries:
                kwargs = {**kwargs, "attn_mask": mask[..., start : start + rows, :]}
            chunks.append(func(query[..., start : start + rows, :], key, *rest, **kwargs))
        return torch.cat(chunks, dim=-2)
