"""Preference pairs from either released EditReward format, as one record.

The training JSON (EditReward/TRAIN_README.md, read by EditReward/dataset/pairwise_edit_dataset.py):
a list of `{"prompt", "path_src", "path1" (preferred), "path2", "model1_dim1_score",
"model1_dim2_score", "model1_overall_score", "model2_...", "tie_case"}`; dim1 is instruction
following, dim2 visual quality (1-4 each), overall their sum. The release opens the paths as given
(relative to its working directory); here a relative path is taken from `image_root`, by default
the JSON file's folder.

The EditReward-Data parquet (TIGER-Lab/EditReward-Data): `instruction`, `source_img`,
`left_output_image`, `right_output_image`, per-side `instruction_following`,
`quality_aesthetic`, `overall` and `vote_type`. The per-side scores' exact column layout could
not be checked offline (the dataset card is not in the release's code), so `{side}_{name}`,
`{side}_{name}_score` (as AgPerry/EditReward-Data-100, a subset "sourced directly" from it, names
them), `{name}_{side}`, a `{name}` column holding {"left", "right"} or [left, right], and a
`{side}_scores` struct are all read; images are Hugging Face image structs (`bytes`, `path`),
raw bytes or paths.

Relations are +1 (the first edit is better on that dimension), 0 (tie) or -1; None when the
record has no score for it (e.g. GenAI-Bench's valid set has dim1 only).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

DIMENSIONS = ("following", "quality")  # head 0 and head 1, EditReward's dim1 and dim2
PARQUET_SCORES = {"following": "instruction_following", "quality": "quality_aesthetic", "overall": "overall"}
SIDES = ("left", "right")

ImageRef = Path | bytes


class PairDataError(ValueError):
    """A pair file that cannot be read, or a record without what a pair needs; names the record."""


@dataclass(frozen=True)
class PreferencePair:
    """Two edits (first, second) of one source, and how they compare per dimension and overall."""

    instruction: str
    source: ImageRef
    first: ImageRef
    second: ImageRef
    following: int | None
    quality: int | None
    overall: int | None

    def relation(self, dimension: str) -> int | None:
        return getattr(self, dimension)


def sign(x: float) -> int:
    return (x > 0) - (x < 0)


def open_image(ref: ImageRef) -> Image.Image:
    with Image.open(io.BytesIO(ref) if isinstance(ref, bytes) else ref) as image:
        return image.convert("RGB")


def score_relation(first: Any, second: Any) -> int | None:
    if first is None or second is None:
        return None
    return sign(float(first) - float(second))


def json_record(record: Mapping[str, Any], root: Path, where: str) -> PreferencePair:
    try:
        paths = [record[key] for key in ("path_src", "path1", "path2")]
        instruction = record["prompt"]
    except KeyError as exc:
        raise PairDataError(f"{where}: no {exc.args[0]!r}") from exc
    if not all(isinstance(path, str) and path for path in paths) or not isinstance(instruction, str):
        raise PairDataError(f"{where}: prompt, path_src, path1 and path2 must be non-empty strings")
    source, first, second = (Path(path) if Path(path).is_absolute() else root / path for path in paths)
    following = score_relation(record.get("model1_dim1_score"), record.get("model2_dim1_score"))
    quality = score_relation(record.get("model1_dim2_score"), record.get("model2_dim2_score"))
    overall = score_relation(record.get("model1_overall_score"), record.get("model2_overall_score"))
    tie = record.get("tie_case")
    if tie is not None:
        # path1 is the preferred edit, or one of a tie; tie_case decides when there are no overall scores.
        overall = 0 if tie else (overall if overall not in (None, 0) else 1)
    elif overall is None:
        overall = 1
    if overall == -1:
        raise PairDataError(f"{where}: path1 must be the preferred edit, but its overall score is lower")
    return PreferencePair(instruction, source, first, second, following, quality, overall)


def read_training_json(path: str | Path, image_root: str | Path | None = None) -> list[PreferencePair]:
    """The release's train.json: a list of records (path1 preferred)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PairDataError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, list):
        raise PairDataError(f"{path}: expected a JSON list of pair records")
    root = Path(image_root) if image_root is not None else path.parent
    return [json_record(record, root, f"{path} record {index}") for index, record in enumerate(data)]


def image_ref(value: Any, root: Path, where: str) -> ImageRef:
    if isinstance(value, Mapping):  # datasets' Image feature: {"bytes": ..., "path": ...}
        if value.get("bytes"):
            return bytes(value["bytes"])
        value = value.get("path")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value:
        return Path(value) if Path(value).is_absolute() else root / value
    raise PairDataError(f"{where}: an image is neither bytes nor a path")


def side_value(row: Mapping[str, Any], side: str, name: str) -> Any:
    for key in (f"{side}_{name}", f"{side}_{name}_score", f"{name}_{side}"):
        if key in row:
            return row[key]
    value = row.get(name)
    if isinstance(value, Mapping):
        return value.get(side)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return value[SIDES.index(side)]
    scores = row.get(f"{side}_scores")
    return scores.get(name) if isinstance(scores, Mapping) else None


def vote_relation(vote: Any) -> int | None:
    """GenAI-Bench's votes: leftvote, rightvote, tievote, bothbad_vote (a tie: neither is better)."""
    if not isinstance(vote, str):
        return None
    vote = vote.lower()
    if "tie" in vote or "both" in vote:
        return 0
    if "left" in vote:
        return 1
    if "right" in vote:
        return -1
    return None


def parquet_row(row: Mapping[str, Any], root: Path, where: str) -> PreferencePair:
    try:
        instruction = row["instruction"]
        images = [
            image_ref(row[key], root, where)
            for key in ("source_img", "left_output_image", "right_output_image")
        ]
    except KeyError as exc:
        raise PairDataError(f"{where}: no {exc.args[0]!r} column") from exc
    if not isinstance(instruction, str):
        raise PairDataError(f"{where}: the instruction is not text")
    relations = {
        dimension: score_relation(*(side_value(row, side, column) for side in SIDES))
        for dimension, column in PARQUET_SCORES.items()
    }
    vote = vote_relation(row.get("vote_type"))
    overall = vote if vote is not None else relations["overall"]
    return PreferencePair(instruction, *images, relations["following"], relations["quality"], overall)


def read_parquet(path: str | Path, image_root: str | Path | None = None) -> list[PreferencePair]:
    """EditReward-Data's parquet (one file); the left edit is `first`."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise PairDataError(f"reading {path} needs pyarrow (pip install 'rewardedit[bench]')") from exc
    path = Path(path)
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as exc:
        raise PairDataError(f"cannot read {path}: {exc}") from exc
    root = Path(image_root) if image_root is not None else path.parent
    return [parquet_row(row, root, f"{path} row {index}") for index, row in enumerate(rows)]


def read_pairs(path: str | Path, image_root: str | Path | None = None) -> list[PreferencePair]:
    """A .json training file, a .parquet file, or a folder of .parquet files (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.parquet"))
        if not files:
            raise PairDataError(f"{path}: no .parquet files")
        return [pair for file in files for pair in read_parquet(file, image_root)]
    if path.suffix == ".parquet":
        return read_parquet(path, image_root)
    return read_training_json(path, image_root)
