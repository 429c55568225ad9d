"""fp16 on CUDA: finite output close to the fp32 result (runs only where a GPU is present)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import RewardEditPipeline

from .helpers import pixels


@pytest.mark.gpu
def test_fp16_cuda_edit_is_finite_and_close_to_fp32(tiny_checkpoint, source_image):
    half = RewardEditPipeline.from_pretrained(tiny_checkpoint, device="cuda")
    full = RewardEditPipeline.from_pretrained(tiny_checkpoint, device="cuda", dtype=torch.float32)
    assert half.dtype == torch.float16

    def run(pipe: RewardEditPipeline) -> np.ndarray:
        out = pipe(
            image=source_image,
            instruction="make it blue",
            num_inference_steps=10,
            generator=torch.Generator().manual_seed(0),
        )
        return pixels(out.images[0])

    difference = np.abs(run(half) - run(full))
    assert difference.mean() < 2.0 and difference.max() < 32
