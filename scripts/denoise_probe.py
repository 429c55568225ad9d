"""What a checkpoint's x0 prediction makes of a noised exact edit, by noise level: the source of the haze.

    python -m scripts.denoise_probe --model DIR [--count 48 --timesteps 20 50 99 199 499 899]

Noises the world's exact edits (synth, a stream no training set uses) to x_t at each timestep, as
training does, asks the model's conditional branch for x0 (instruction given, no reward) and
prints, per timestep, the mean absolute pixel error against the exact edit and the mean
off-palette distance (synth.measure.off_palette: the oracle passes quality under about 6 / 255),
each for the model's x0 and for x_t itself rescaled (what a model that only kept x_t would give).
A denoiser that does its job is at or below x_t's error at every timestep.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model import RewardEditPipeline, Rewards
from model.image import image_to_tensor, tensor_to_images
from synth.edits import EditCase
from synth.generate import scene_cases
from synth.measure import off_palette
from synth.render import render_array
from synth.vocabulary import CATEGORIES

STREAM = 7  # scenes no training set, benchmark or page sample draws (synth.generate's streams are 0-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--count", type=int, default=48, help="exact edits (scenes x categories)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, nargs="+", default=[20, 50, 99, 199, 499, 899])
    args = parser.parse_args()

    pipe = RewardEditPipeline.from_pretrained(args.model, device="cpu")
    cases = exact_cases(args.count, args.seed)
    sources = np.stack([render_array(case.before) for case in cases])
    truths = np.stack([render_array(case.after) for case in cases])
    instructions = [case.instruction for case in cases]

    vae, scheduler = pipe.components.vae, pipe.components.scheduler
    scale = vae.config.scaling_factor
    with torch.no_grad():
        source_latents = vae.encode(to_tensor(sources)).latent_dist.mode()
        truth_latents = vae.encode(to_tensor(truths)).latent_dist.mode() * scale
        states = pipe.encode_text(instructions)
        rewards = [None if pipe.components.reward.has_null_condition else Rewards()] * len(cases)
        condition = pipe.encode_rewards(rewards)
        mask = pipe.text_mask(instructions, branches=1)
    generator = torch.Generator().manual_seed(args.seed)

    print(f"{args.model}: {len(cases)} exact edits")
    print("| t | sigma | error: x0 | error: x_t | off-palette: x0 | off-palette: x_t |")
    print("|---|---|---|---|---|---|")
    for t in args.timesteps:
        alpha_bar = scheduler.alphas_cumprod[t]
        a, s = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
        noisy = a * truth_latents + s * torch.randn(truth_latents.shape, generator=generator)
        with torch.no_grad():
            x0 = pipe.model(torch.cat([noisy, source_latents], 1), torch.tensor(t), states, condition, mask)
        cells = []
        for latents in (x0, noisy / a):
            pixels = np.stack([np.asarray(image) for image in tensor_to_images(pipe.decode(latents))]) / 255.0
            error = np.abs(pixels - truths / 255.0).mean() * 255
            off = np.mean(
                [
                    off_palette(src / 255.0, truth / 255.0, edit)[0].mean()
                    for src, truth, edit in zip(sources, truths, pixels, strict=True)
                ]
            )
            cells.append((error, off * 255))
        (x0_error, x0_off), (xt_error, xt_off) = cells
        print(f"| {t} | {float(s / a):.3f} | {x0_error:.1f} | {xt_error:.1f} | {x0_off:.1f} | {xt_off:.1f} |")
    source_error = np.abs(sources / 255.0 - truths / 255.0).mean() * 255
    print(f"\nthe source's own error: {source_error:.1f} / 255 (pixel values 0-255)")


def exact_cases(count: int, seed: int) -> list[EditCase]:
    """`count` held-out edits, one per category of each scene in turn (all seven every 7 edits)."""
    scenes = math.ceil(count / len(CATEGORIES))
    cases = [case for i in range(scenes) for case in scene_cases(seed, STREAM, i, 64, CATEGORIES)]
    return cases[:count]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.cat([image_to_tensor(Image.fromarray(image)) for image in images])


if __name__ == "__main__":
    main()
