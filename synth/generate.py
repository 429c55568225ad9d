"""Folders on disk: a noisy, labelled training set (manifest.jsonl) and a held-out benchmark.

Item i draws from its own random stream (seed, stream, i), so any item can be rebuilt alone, and the
training and benchmark streams never share a scene for the same seed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from judge.benchmark import BENCHMARK_FILE
from training.manifest import ManifestRow, write_manifest

from .captions import caption, captioned_scene
from .edits import EditCase, NoRoomError, propose
from .failures import FailurePlan, noisy_edit
from .labels import oracle_rewards, random_plan
from .render import render, render_array
from .sampling import random_scene
from .truth import save_source
from .vocabulary import CATEGORIES

MANIFEST_FILE = "manifest.jsonl"
# Stream 2 draws the page's sample scenes (tests/web/samples.py): no data may draw from it.
TRAIN_STREAM, BENCHMARK_STREAM, CAPTION_STREAM = 0, 1, 3
BLANK_SOURCE = "blank-source.png"
BLANK_GREY = 128  # 128 / 127.5 - 1 = 0.004 in [-1, 1]: nearly the zero source that image dropout leaves


def scene_cases(seed: int, stream: int, index: int, size: int, categories: tuple[str, ...]) -> list[EditCase]:
    """A scene and one edit per category, redrawing the scene until every category fits it."""
    rng = np.random.default_rng([seed, stream, index])
    while True:
        scene = random_scene(rng, size, size)
        try:
            return [propose(rng, scene, category) for category in categories]
        except NoRoomError:
            continue


def category_cycle(mix: dict[str, int] | None = None) -> tuple[str, ...]:
    """The categories items take in turn: each as many times in a cycle as its weight (default 1).

    Weights interleave (local, remove, ..., local, remove, ...) so any prefix of the data keeps the
    mix; with no weights it is CATEGORIES itself, the equal mix every data set had before. A weight
    for an unknown category, or weights that leave no category, raise ValueError.
    """
    if unknown := set(mix or {}) - set(CATEGORIES):
        raise ValueError(f"unknown category {sorted(unknown)[0]!r}; one of {', '.join(CATEGORIES)}")
    weights = {category: 1 for category in CATEGORIES} | (mix or {})
    rounds = max(weights.values())
    if rounds < 1:
        raise ValueError("every category weighs 0: nothing to write")
    return tuple(c for r in range(rounds) for c in CATEGORIES if weights[c] > r)


def write_dataset(
    out: Path,
    count: int,
    seed: int,
    size: int = 64,
    workers: int = 1,
    exact: bool = False,
    mix: dict[str, int] | None = None,
) -> list[ManifestRow]:
    """OUT/images/<id>-{source,edited}.png, OUT/masks/<id>.png (where the exact edit changes the
    source) and OUT/manifest.jsonl with the oracle's rewards.

    Items are independent, so `workers` processes write the same files as one does. `exact` writes
    each scene's ground-truth edit instead of a noisy one (same scenes and instructions): data that
    tells whether a model that does not follow is held back by the noise or by itself. `mix` weights
    the categories (see `category_cycle`), so a small model sees more of the edits it finds hard.
    """
    for folder in ("images", "masks"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    write = partial(_write_item, out, seed, size, exact, category_cycle(mix))
    return _write_items(out, write, count, workers)


def _write_items(
    out: Path, write: Callable[[int], ManifestRow], count: int, workers: int
) -> list[ManifestRow]:
    """Items 0..count-1, then OUT/manifest.jsonl; items are independent, so `workers` processes
    write the same files as one does."""
    if workers <= 1:
        rows = [write(i) for i in range(count)]
    else:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(write, range(count), chunksize=64))
    write_manifest(rows, out / MANIFEST_FILE)
    return rows


def _write_item(out: Path, seed: int, size: int, exact: bool, cycle: tuple[str, ...], i: int) -> ManifestRow:
    category = cycle[i % len(cycle)]
    (case,) = scene_cases(seed, TRAIN_STREAM, i, size, (category,))
    rng = np.random.default_rng([seed, TRAIN_STREAM, i, 1])
    plan = FailurePlan() if exact else random_plan(rng)
    edited = noisy_edit(rng, case, plan)
    paths = {name: out / "images" / f"{i:06d}-{name}.png" for name in ("source", "edited")}
    paths["mask"] = out / "masks" / f"{i:06d}.png"  # apart: a folder of images is a VAE's data
    before = render_array(case.before)
    Image.fromarray(before).save(paths["source"])
    Image.fromarray(edited).save(paths["edited"])
    Image.fromarray(edit_mask(before, render_array(case.after))).save(paths["mask"])
    rewards = oracle_rewards(case, edited, plan)
    return ManifestRow(
        f"{i:06d}", paths["source"], paths["edited"], case.instruction, rewards, mask=paths["mask"]
    )


def edit_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """White where the exact edit changes a pixel: the region a noisy target's edit is about."""
    return np.where((before != after).any(-1), 255, 0).astype(np.uint8)


def write_captions(out: Path, count: int, seed: int, size: int = 64, workers: int = 1) -> list[ManifestRow]:
    """OUT/images/<id>-scene.png with their captions as instructions, and OUT/manifest.jsonl.

    Text-to-image rows for pretraining (synth/captions.py): the source of every row is one blank
    grey image, which the codec encodes to within 0.007 of the zero latent that image dropout trains
    the U-Net on, so the rows teach the branch InstructPix2Pix inherits from Stable Diffusion:
    drawing from text. Rows carry no rewards. Scenes come from their own stream, shared with no
    edit, benchmark or page sample.
    """
    (out / "images").mkdir(parents=True, exist_ok=True)
    blank = out / "images" / BLANK_SOURCE
    Image.new("RGB", (size, size), (BLANK_GREY,) * 3).save(blank)
    write = partial(_write_caption, out, seed, size, blank)
    return _write_items(out, write, count, workers)


def _write_caption(out: Path, seed: int, size: int, blank: Path, i: int) -> ManifestRow:
    scene = captioned_scene(np.random.default_rng([seed, CAPTION_STREAM, i]), size, size)
    sample_id = f"{i:06d}"
    path = out / "images" / f"{sample_id}-scene.png"
    render(scene).save(path)
    return ManifestRow(sample_id, blank, path, caption(scene))


def write_benchmark(out: Path, count: int, seed: int, size: int = 64) -> list[dict[str, str]]:
    """OUT/benchmark.json and OUT/images/<scene>.png: scenes with one edit per category, as Real-Edit."""
    items: list[dict[str, str]] = []
    for index in range(-(-count // len(CATEGORIES))):
        cases = scene_cases(seed, BENCHMARK_STREAM, index, size, CATEGORIES)
        image = f"images/{index:04d}.png"
        save_source(out / image, cases[0].before, cases)
        for case in cases:
            items.append(
                {
                    "id": f"{index:04d}-{case.category}",
                    "image": image,
                    "instruction": case.instruction,
                    "category": case.category,
                }
            )
    items = items[:count]
    (out / BENCHMARK_FILE).write_text(json.dumps(items, indent=1) + "\n", encoding="utf-8")
    return items
