"""A tiny EditReward model on disk, as the releases lay it out, and manifests of edits to judge.

write_random_editreward (judge/editreward/random_model.py) writes both parts, built here offline.
The base folder holds what Qwen2.5-VL-7B-Instruct's does (config.json with the text settings at
the top level, a byte-level BPE tokenizer with Qwen's added tokens, the chat template, the image
processor's settings) and random base weights under the pre-4.52 names (`model.layers.*`,
`visual.*`), its vocabulary not yet resized. The reward checkpoint is another random model with
`<|Reward|>` added, saved as the release saved it: `model.safetensors` with
`model.language_model.*`, `model.visual.*`, `lm_head.weight` and `rm_heads.head_{0,1}.{0,3,5}.*`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from judge.editreward.random_model import write_random_editreward


@dataclass(frozen=True)
class TinyEditReward:
    base: Path
    reward: Path


def write_tiny_editreward(folder: Path) -> TinyEditReward:
    return TinyEditReward(*write_random_editreward(folder))


INSTRUCTIONS = ("make the sky purple", "remove the car", "add a hat", "turn it into a watercolour")


def write_edit_manifest(folder: Path, count: int, labelled: bool) -> Path:
    """`count` rows of distinct noise edits; labelled rows carry scores that vary per row and perspective."""
    (folder / "img").mkdir(parents=True)
    rng = np.random.default_rng(count)
    lines = []
    for i in range(count):
        for kind in ("source", "edited"):
            pixels = rng.integers(0, 256, (64, 64 + 8 * (i % 3), 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "img" / f"{i}-{kind}.png")
        line = {"id": f"r{i}", "source": f"img/{i}-source.png", "edited": f"img/{i}-edited.png"}
        line["instruction"] = INSTRUCTIONS[i % len(INSTRUCTIONS)]
        if labelled:
            line["rewards"] = {
                name: {"score": float((i + offset) % 6), "text": "None"}
                for offset, name in enumerate(("following", "preserving", "quality"))
            }
        lines.append(line)
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
