"""Where a trained U-Net loses the difference between two instructions that differ in one word.

    python scripts/instruction_probe.py BENCHMARK_DIR CHECKPOINT [CHECKPOINT ...]

For the benchmark's first background edit, feeds "make the background blue" and "... red" with the
same source and noise at t = 999, 500 and 100, and prints per U-Net level the relative L2
difference of the two runs' features, ||a - b|| / ||a||, and of the predicted edits (the output
minus the source latent, for an x0 model with a source skip; the output itself otherwise). A model
that follows would differ by tens of percent at the output (docs/synthetic-experiment.md, run 5).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from diffusers import DDPMScheduler
from PIL import Image

from model import RewardEditPipeline
from model.image import image_to_tensor

INSTRUCTIONS = ["make the background blue", "make the background red"]
TIMESTEPS = (999, 500, 100)


def apart(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / a.norm()).item()


def probe(benchmark: Path, checkpoint: str) -> dict[int, dict[str, float]]:
    pipe = RewardEditPipeline.from_pretrained(checkpoint)
    c, unet = pipe.components, pipe.model.unet
    item = next(
        i for i in json.loads((benchmark / "benchmark.json").read_text()) if i["category"] == "background"
    )
    source = c.vae.encode(
        image_to_tensor(Image.open(benchmark / item["image"]).convert("RGB"))
    ).latent_dist.mode()
    scaled = source * c.vae.config.scaling_factor
    noise = torch.randn(source.shape, generator=torch.Generator().manual_seed(0))
    levels = {f"down {i}": block for i, block in enumerate(unet.down_blocks)}
    levels |= {"mid": unet.mid_block} | {f"up {i}": block for i, block in enumerate(unet.up_blocks)}
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        module.register_forward_hook(
            lambda _, __, out, name=name: seen.__setitem__(name, out[0] if isinstance(out, tuple) else out)
        )
        for name, module in levels.items()
    ]
    states, condition = pipe.encode_text(INSTRUCTIONS), pipe.encode_rewards([None, None])
    result = {}
    try:
        for t in TIMESTEPS:
            noisy = DDPMScheduler.from_config(c.scheduler.config).add_noise(scaled, noise, torch.tensor([t]))
            sample = torch.cat([noisy, source], 1).expand(2, -1, -1, -1)
            with torch.no_grad():
                out = pipe.model(sample, t, states, condition, pipe.text_mask(INSTRUCTIONS, 1))
            edit = out - scaled if pipe.model.source_skip else out
            result[t] = {name: apart(*seen[name].unbind(0)[:2]) for name in levels} | {"edit": apart(*edit)}
    finally:
        for hook in hooks:
            hook.remove()
    return result


def main() -> None:
    benchmark, checkpoints = Path(sys.argv[1]), sys.argv[2:]
    for checkpoint in checkpoints:
        for t, row in probe(benchmark, checkpoint).items():
            print(
                f"{checkpoint} t={t}: "
                + ", ".join(f"{name} {100 * value:.1f}%" for name, value in row.items())
            )


if __name__ == "__main__":
    main()
