"""Validation edits during training: a few manifest rows edited with the current weights, saved as PNGs."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from model import Components, RewardEditPipeline, Rewards
from model.image import MIN_SIDE, load_image

from .manifest import ManifestRow


def save_validation_edits(
    components: Components, rows: list[ManifestRow], out: Path, resolution: int, steps: int, seed: int
) -> list[Path]:
    """Edit each row's source with its instruction at the best reward (5/5/5); returns the PNG paths.

    The pipeline shares the training modules (no copy), so the caller switches them back to
    train mode afterwards.
    """
    pipe = RewardEditPipeline(components)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, row in enumerate(rows):
        result = pipe(
            image=load_image(row.source),
            instruction=row.instruction,
            rewards=Rewards(),
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(seed),
            max_side=max(resolution, MIN_SIDE),
        )
        path = out / f"{number:02d}-{re.sub(r'[^A-Za-z0-9._-]', '_', row.id)}.png"
        result.images[0].save(path)
        written.append(path)
    return written
