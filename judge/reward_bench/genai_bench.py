"""GenAI-Bench's image-editing split: pairs of edits with an arena vote.

Two layouts are read:
- the release on Hugging Face (TIGER-Lab/GenAI-Bench, config `image_edition`, parquet), one row per
  vote: `instruct_prompt`, `source_image`, `left_output_image`, `right_output_image`, `left_model`,
  `right_model`, `vote_type` ("leftvote", "rightvote", "tievote", "bothbad_vote"); a tie and "both
  bad" are both a tie to a scalar judge;
- EditReward's evaluation JSON (its `valid_set2_full.json`): `prompt`, `path_src`, `path1`, `path2`
  and the humans' `model1_dim1_score` / `model2_dim1_score`, whose order is the preference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputFileError
from .items import PAIRWISE, BenchItem, Benchmark, compare, field_of, image, records

NAME = "genai-bench"
VOTES = {"leftvote": 1, "rightvote": -1, "tievote": 0, "bothbad_vote": 0}


def pair_item(record: dict[str, Any], folder: Path, number: int) -> BenchItem:
    """One pair from either layout (the arena release's or EditReward's evaluation JSON)."""
    if "vote_type" in record:
        vote = record["vote_type"]
        if vote not in VOTES:
            raise InputFileError(f"row {number}: unknown vote_type {vote!r}; known: {', '.join(VOTES)}")
        return BenchItem(
            id=str(record.get("id", number)),
            instruction=str(field_of(record, "instruct_prompt", "instruction")),
            source=image(record["source_image"], folder, f"row {number} source_image"),
            candidates=(
                image(record["left_output_image"], folder, f"row {number} left_output_image"),
                image(record["right_output_image"], folder, f"row {number} right_output_image"),
            ),
            relations={(0, 1): VOTES[vote]},
        )
    first = float(field_of(record, "model1_dim1_score"))
    second = float(field_of(record, "model2_dim1_score"))
    return BenchItem(
        id=str(record.get("id", number)),
        instruction=str(field_of(record, "prompt", "instruction")),
        source=image(field_of(record, "path_src"), folder, f"row {number} path_src"),
        candidates=(
            image(field_of(record, "path1"), folder, f"row {number} path1"),
            image(field_of(record, "path2"), folder, f"row {number} path2"),
        ),
        relations={(0, 1): compare(first, second)},
    )


def load_pairs(path: Path, name: str) -> Benchmark:
    items = [pair_item(record, folder, n) for n, (record, folder) in enumerate(records(path))]
    return Benchmark(name, PAIRWISE, items)


def load(path: Path) -> Benchmark:
    return load_pairs(path, NAME)
