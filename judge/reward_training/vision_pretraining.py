"""Pretrain a from-scratch reward model's vision tower: a stand-in for what a base VLM brings.

EditReward fine-tunes Qwen2.5-VL, whose vision tower already sees colours, edges, noise and blur.
The `small` shape trained from random weights on preference pairs learns none of that within a
CPU budget: its image tokens barely move the reward token and quality stays at chance
(docs/reward-training.md). This pretrains the tower alone, on images only (no preference, no
score): from each merged image token, a linear probe regresses simple statistics of the pixels
that token covers, in the original image: mean and spread of each channel, the mean absolute
step between neighbouring pixels, and the log count of distinct colours. The last two are the
hard ones (a 2-layer, 64-wide tower needs ~1500 steps before it finds them) and the ones quality
needs (noise, blur and blocking change them).

The result is a base folder (`train-reward --base-model FOLDER`, usually with
`--freeze-vision-tower`): the base files of the shape, and weights holding the pretrained tower
and the shape's random language model, as `write_base_folder` lays them out.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from judge.editreward.base_folder import read_base_folder
from judge.editreward.images import VisionSettings, patchify
from judge.editreward.random_model import random_model, write_base_folder, write_base_weights
from training.seeding import derive_seed

LOG = logging.getLogger(__name__)
STATISTICS = (
    "red mean",
    "green mean",
    "blue mean",
    "red spread",
    "green spread",
    "blue spread",
    "neighbour step",
    "distinct colours",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SPLIT, BATCHES, PROBE = 20, 21, 22  # derive_seed purposes
LOG_FILE = "logs/vision.jsonl"
EVAL_CHUNK = 100  # held-out images per forward pass


@dataclass(frozen=True)
class VisionPretrainConfig:
    images: Path  # a folder of images (searched recursively)
    out: Path
    shape: str = "small"
    steps: int = 3000
    batch_size: int = 64  # images per step
    learning_rate: float = 1e-3
    heldout: int = 500  # images kept out of training to measure R^2 on
    eval_every: int = 200
    seed: int = 0


def token_statistics(image: Image.Image, grid: tuple[int, int, int], merge: int) -> np.ndarray:
    """[tokens, len(STATISTICS)]: per merged token, in the tower's token order (row-major windows)."""
    pixels = np.asarray(image.convert("RGB"))
    rows, columns = grid[1] // merge, grid[2] // merge
    top = np.linspace(0, pixels.shape[0], rows + 1).round().astype(int)
    left = np.linspace(0, pixels.shape[1], columns + 1).round().astype(int)
    values = []
    for r in range(rows):
        for c in range(columns):
            region = pixels[top[r] : top[r + 1], left[c] : left[c + 1]]
            flat = region.reshape(-1, 3)
            x = region.astype(np.float32) / 255.0
            step = np.abs(np.diff(x, axis=0)).mean() if len(x) > 1 else 0.0
            step += np.abs(np.diff(x, axis=1)).mean() if x.shape[1] > 1 else 0.0
            distinct = len(np.unique(flat, axis=0))
            values.append([*(flat.mean(0) / 255.0), *(flat.std(0) / 255.0), step, np.log1p(distinct)])
    return np.asarray(values, dtype=np.float32)


def image_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def prepare(
    files: Sequence[Path], settings: VisionSettings
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
    """(patches [images, patches, 3, P*P], statistics [images, tokens, statistics], the one grid)."""
    patches, statistics, grids = [], [], set()
    for file in files:
        with Image.open(file) as opened:
            image = opened.convert("RGB")
        values, grid = patchify(image, settings)
        grids.add(grid)
        # A still image repeats its frame over the time patch: keep one copy (half the memory).
        patches.append(values.reshape(len(values), 3, settings.temporal_patch_size, -1)[:, :, 0])
        statistics.append(token_statistics(image, grid, settings.merge_size))
    if len(grids) != 1:
        raise ValueError(f"the images give {len(grids)} patch grids; pretrain on images of one size")
    return torch.from_numpy(np.stack(patches)), torch.from_numpy(np.stack(statistics)), grids.pop()


def r_squared(predicted: torch.Tensor, target: torch.Tensor) -> list[float]:
    """Per statistic, over every token of every image."""
    predicted, target = predicted.reshape(-1, target.shape[-1]), target.reshape(-1, target.shape[-1])
    residual = ((predicted - target) ** 2).mean(0)
    return (1 - residual / target.var(0).clamp_min(1e-12)).tolist()


def pretrain_vision(config: VisionPretrainConfig) -> Path:
    """Writes the base folder at config.out and OUT/logs/vision.jsonl (R^2 per statistic); returns OUT."""
    files = image_files(config.images)
    if not 0 < config.heldout < len(files):
        raise ValueError(f"hold out between 1 and {len(files) - 1} of the {len(files)} images")
    write_base_folder(config.out, config.shape, seed=None)
    base = read_base_folder(config.out)
    vocabulary = json.loads((config.out / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    model = random_model(base, derive_seed(config.seed), vocabulary=vocabulary)
    started = time.monotonic()
    patches, statistics, grid = prepare(files, base.vision)
    LOG.info("%d images prepared in %.0f s", len(files), time.monotonic() - started)
    order = np.random.default_rng(derive_seed(config.seed, SPLIT)).permutation(len(files))
    heldout, train = order[: config.heldout], order[config.heldout :]
    seen = statistics[train].reshape(-1, len(STATISTICS))
    targets = (statistics - seen.mean(0)) / seen.std(0).clamp_min(1e-6)  # each statistic weighs the same

    visual = model.model.visual.train()
    torch.manual_seed(derive_seed(config.seed, PROBE))
    probe = torch.nn.Linear(base.config.vision_config.out_hidden_size, len(STATISTICS))
    optimizer = torch.optim.AdamW([*visual.parameters(), *probe.parameters()], lr=config.learning_rate)

    def predict(indices: np.ndarray) -> torch.Tensor:
        grids = torch.tensor([grid] * len(indices))
        frames = patches[indices].unsqueeze(3).expand(-1, -1, -1, base.vision.temporal_patch_size, -1)
        out = visual(frames.reshape(len(indices) * patches.shape[1], -1), grid_thw=grids)
        tokens = getattr(out, "pooler_output", out)  # a tensor before transformers 5
        return probe(tokens).view(len(indices), -1, len(STATISTICS))

    log_path = config.out / LOG_FILE
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("", encoding="utf-8")
    rng = np.random.default_rng(derive_seed(config.seed, BATCHES))
    started = time.monotonic()
    for step in range(config.steps + 1):
        if step % config.eval_every == 0 or step == config.steps:
            visual.eval()
            with torch.inference_mode():
                chunks = np.array_split(heldout, -(-len(heldout) // EVAL_CHUNK))
                predicted = torch.cat([predict(chunk) for chunk in chunks])
            visual.train()
            scores = dict(zip(STATISTICS, r_squared(predicted, targets[heldout]), strict=True))
            line = {"step": step, "elapsed_s": round(time.monotonic() - started, 1), "r2": scores}
            with log_path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(line) + "\n")
            LOG.info("step %d R^2 %s", step, " ".join(f"{v:.2f}" for v in scores.values()))
        if step == config.steps:
            break
        batch = rng.choice(train, min(config.batch_size, len(train)), replace=False)
        loss = ((predict(batch) - targets[batch]) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(visual.parameters(), 1.0)
        optimizer.step()
    write_base_weights(model.eval(), config.out)
    return config.out
