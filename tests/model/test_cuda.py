"""fp16 on CUDA: close to fp32, and the compiled path close to eager (runs only where a GPU is present)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import EditRequest, RewardEditPipeline, Rewards
from model.optimize import Buckets, compile_buckets, optimize

from .helpers import pixels, randomize_rewards


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


@pytest.mark.gpu
def test_compiled_cuda_edits_match_the_eager_ones_within_fp16_tolerance(tiny_checkpoint, source_image):
    eager = RewardEditPipeline.from_pretrained(tiny_checkpoint, device="cuda")
    compiled = RewardEditPipeline.from_pretrained(tiny_checkpoint, device="cuda")
    for pipe in (eager, compiled):
        randomize_rewards(pipe.components.reward)  # the same values: the reward modules act
    optimize(compiled)
    # Two requests a batch: one request runs padded to two, a batch of two exactly fits.
    compile_buckets(compiled, Buckets(sizes=((64, 64),), batches=(2,)))

    def run(pipe: RewardEditPipeline, requests: int, reward_guidance: float) -> list[np.ndarray]:
        edits = [
            EditRequest(
                source_image,
                "make it blue",
                Rewards(following=4.0 - seed),
                reward_guidance_scale=reward_guidance,
                generator=torch.Generator().manual_seed(seed),
            )
            for seed in range(requests)
        ]
        return [pixels(image) for image in pipe.edit_batch(edits, num_inference_steps=10).images]

    for requests, reward_guidance in ((1, 1.0), (2, 1.0), (2, 2.0)):
        for ours, theirs in zip(
            run(compiled, requests, reward_guidance), run(eager, requests, reward_guidance), strict=True
        ):
            difference = np.abs(ours - theirs)
            assert difference.mean() < 2.0 and difference.max() < 32
