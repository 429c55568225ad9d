"""Preference pairs from the synthetic world, in the release's training-JSON format (`synth-pairs`).

Pair i: a scene and an edit of category i mod 7 (drawn as `synth-data` draws its items, from
stream PAIR_STREAM), two noisy edits of it, each with its own failure plan (synth/failures.py,
drawn as the labeller draws them), and the oracle's 0-5 scores for both: following is dim1,
quality is dim2, and overall is their sum, as EditReward's data has it (dim1 + dim2). Preserving
has no head in EditReward and is left out. path1 is the edit with the higher overall; on an overall
tie the order is random and `tie_case` is true. Per-dimension ties stay in the scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synth.failures import noisy_edit
from synth.generate import scene_cases
from synth.labels import oracle_rewards, random_plan
from synth.render import render
from synth.vocabulary import CATEGORIES

PAIRS_FILE = "pairs.json"
PAIR_STREAM = 2  # synth.generate uses 0 (training triplets) and 1 (benchmark)


def pair_record(out: Path, seed: int, size: int, index: int) -> dict[str, Any]:
    category = CATEGORIES[index % len(CATEGORIES)]
    (case,) = scene_cases(seed, PAIR_STREAM, index, size, (category,))
    rng = np.random.default_rng([seed, PAIR_STREAM, index, 1])
    name = f"{index:06d}"
    sides = []
    for side in ("a", "b"):
        plan = random_plan(rng)
        edited = noisy_edit(rng, case, plan)
        rewards = oracle_rewards(case, edited, plan)
        path = f"images/{name}-{side}.png"
        Image.fromarray(edited).save(out / path)
        sides.append((path, int(rewards.following), int(rewards.quality)))
    render(case.before).save(out / f"images/{name}-source.png")
    (a, b) = sides
    tie = a[1] + a[2] == b[1] + b[2]
    swap = b[1] + b[2] > a[1] + a[2] or (tie and rng.random() < 0.5)
    first, second = (b, a) if swap else (a, b)
    return {
        "prompt": case.instruction,
        "choice_dist": None,
        "confidence": None,
        "path_src": f"images/{name}-source.png",
        "path1": first[0],
        "path2": second[0],
        "model1": "synth",
        "model2": "synth",
        "model1_dim1_score": first[1],
        "model1_dim2_score": first[2],
        "model1_overall_score": first[1] + first[2],
        "model2_dim1_score": second[1],
        "model2_dim2_score": second[2],
        "model2_overall_score": second[1] + second[2],
        "tie_case": tie,
        "category": category,
    }


def write_pairs(out: str | Path, count: int, seed: int, size: int = 64) -> Path:
    """OUT/pairs.json and OUT/images/; the same (seed, size) gives the same files."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    records = [pair_record(out, seed, size, index) for index in range(count)]
    path = out / PAIRS_FILE
    path.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    return path


def tie_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    """The share of pairs tied per dimension and overall (EditReward-Data: 38%, 33%, 21%)."""
    n = max(1, len(records))
    share = {
        name: sum(r[f"model1_{key}_score"] == r[f"model2_{key}_score"] for r in records) / n
        for name, key in (("following", "dim1"), ("quality", "dim2"), ("overall", "overall"))
    }
    return share
