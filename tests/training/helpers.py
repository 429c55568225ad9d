"""Helpers shared by the training tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model import Rewards
from training import ManifestRow, TrainConfig, load_config, write_manifest

TINY_CONFIG = Path(__file__).resolve().parents[2] / "training" / "configs" / "tiny.yaml"
LABELLED = Rewards(following=2.0, preserving=4.5, quality=3.0, following_text="the sky is still grey")


def make_dataset(
    folder: Path, count: int, labelled: bool | None = None, size=(80, 64), masked: bool = False
) -> Path:
    """Write `count` (source, edited) pairs and their manifest; labelled None labels every other row.

    `masked` gives each row a mask of the top left quadrant, where the source's red channel is 255
    (0 elsewhere), so a mask moved unlike its images shows.
    """
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        source = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        quadrant = np.zeros(source.shape[:2], dtype=bool)
        quadrant[: size[1] // 2, : size[0] // 2] = True
        if masked:
            source[..., 0] = np.where(quadrant, 255, 0)
        edited = source.copy()
        edited[..., 2] = 255 - edited[..., 2]
        Image.fromarray(source).save(folder / f"{i}_0.png")
        Image.fromarray(edited).save(folder / f"{i}_1.png")
        has_reward = i % 2 == 0 if labelled is None else labelled
        mask = folder / f"{i}_mask.png" if masked else None
        if mask is not None:
            Image.fromarray(np.where(quadrant, 255, 0).astype(np.uint8)).save(mask)
        rows.append(
            ManifestRow(
                id=f"sample/{i}",
                source=folder / f"{i}_0.png",
                edited=folder / f"{i}_1.png",
                instruction="invert the blue channel",
                rewards=LABELLED if has_reward else None,
                mask=mask,
            )
        )
    return write_manifest(rows, folder / "manifest.jsonl")


def tiny_config(manifest: Path, out: Path, **overrides: Any) -> TrainConfig:
    """The shipped tiny.yaml with a manifest, an output folder and per-test overrides."""
    return load_config(TINY_CONFIG, {"manifest": manifest, "out": out, **overrides})


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], prefix: str) -> bool:
    """Whether any tensor whose name starts with `prefix` differs."""
    names = [name for name in before if name.startswith(prefix)]
    assert names, f"no parameters named {prefix}*"
    return any(not torch.equal(before[name], after[name]) for name in names)
