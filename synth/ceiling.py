"""`rewardedit synth-ceiling`: the oracle's verdict on each exact edit after a round trip through a VAE.

A model that edits in a checkpoint's latent space can do no better than the ground truth encoded
and decoded by that checkpoint's VAE, so this is the reference row of the experiment's tables.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from judge.benchmark import BenchmarkItem, read_benchmark
from judge.evaluate import EditSettings, EvalResult, edited_path, judge_and_report, source_image
from model import load_components
from model.image import image_to_tensor, tensor_to_images

from .oracle_judge import OracleJudge
from .render import render
from .truth import read_truth

BATCH = 64


@torch.no_grad()
def write_round_trips(model: Path, items: list[BenchmarkItem], out: Path, settings: EditSettings) -> None:
    """OUT/images/<id>.png: each item's ground truth, VAE-encoded (posterior mode) and decoded."""
    vae = load_components(model).vae.eval()
    edited_path(out, items[0]).parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(items), desc="round trips", unit="image") as bar:
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            truths = [render(read_truth(source_image(item, settings), item.instruction)[1]) for item in batch]
            decoded = vae.decode(
                vae.encode(torch.cat([image_to_tensor(t) for t in truths])).latent_dist.mode()
            )
            for item, image in zip(batch, tensor_to_images(decoded.sample), strict=True):
                image.save(edited_path(out, item))
            bar.update(len(batch))


def evaluate_ceiling(model: Path, benchmark: Path, out: Path) -> EvalResult:
    items = read_benchmark(benchmark)
    settings = EditSettings()
    write_round_trips(model, items, out, settings)
    about = {
        "model": f"VAE round trip of the ground truth ({model})",
        "judge": {"name": "oracle"},
        "settings": {},
    }
    return judge_and_report(items, benchmark, out, OracleJudge(), 8, settings, about)
