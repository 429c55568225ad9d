"""`rewardedit synth-ceiling`: the oracle's verdict on each exact edit after a round trip through a VAE.

A model that edits in a checkpoint's latent space can do no better than the ground truth encoded
and decoded by that checkpoint's VAE, so this is the reference row of the experiment's tables.
With other `--targets` (synth/targets.py) it gives the rows of a model that learned its noisy
training targets perfectly, without rewards or asked for 5/5/5; without a model, the pixels as drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from judge.benchmark import BenchmarkItem, read_benchmark
from judge.evaluate import EditSettings, EvalResult, edited_path, judge_and_report, source_image
from model import load_components
from model.image import image_to_tensor, tensor_to_images

from .edits import EditCase
from .oracle_judge import OracleJudge
from .targets import target
from .truth import read_truth

BATCH = 64


def item_case(item: BenchmarkItem, settings: EditSettings) -> EditCase:
    before, after = read_truth(source_image(item, settings), item.instruction)
    return EditCase(item.category, item.instruction, before, after)


@torch.no_grad()
def write_targets(
    model: Path | None, items: list[BenchmarkItem], out: Path, settings: EditSettings, kind: str, seed: int
) -> None:
    """OUT/images/<id>.png: each item's target of `kind`, VAE-encoded (posterior mode) and decoded.

    Item i's target is drawn from its own stream (seed, i), so it does not depend on the batching.
    """
    vae = load_components(model).vae.float().eval() if model is not None else None
    edited_path(out, items[0]).parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(items), desc=f"{kind} targets", unit="image") as bar:
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            images = [
                Image.fromarray(target(item_case(item, settings), kind, np.random.default_rng([seed, index])))
                for index, item in enumerate(batch, start)
            ]
            if vae is not None:
                pixels = torch.cat([image_to_tensor(image) for image in images])
                images = tensor_to_images(vae.decode(vae.encode(pixels).latent_dist.mode()).sample)
            for item, image in zip(batch, images, strict=True):
                image.save(edited_path(out, item))
            bar.update(len(batch))


def evaluate_ceiling(
    model: Path | None, benchmark: Path, out: Path, kind: str = "exact", seed: int = 0
) -> EvalResult:
    items = read_benchmark(benchmark)
    settings = EditSettings()
    write_targets(model, items, out, settings, kind, seed)
    made = f"{kind} targets" + (f", VAE round trip ({model})" if model is not None else "")
    about = {"model": made, "judge": {"name": "oracle"}, "settings": {"targets": kind, "seed": seed}}
    return judge_and_report(items, benchmark, out, OracleJudge(), 8, settings, about)
