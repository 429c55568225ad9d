"""The benchmark folder: images plus `benchmark.json`, a list of {id, image, instruction, category}."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputFileError
from .report import ALL

BENCHMARK_FILE = "benchmark.json"
# Real-Edit's seven instruction categories, in the paper's order; other names are allowed too.
CATEGORIES = ("local", "remove", "add", "texture", "background", "global", "style")
# Ids name the output files (images/<id>.png), so they must be safe file names.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    image: Path  # absolute once read; relative to the benchmark folder in benchmark.json
    instruction: str
    category: str


def read_benchmark(folder: str | Path) -> list[BenchmarkItem]:
    """Every item of DIR/benchmark.json, checked up front; InputFileError names each bad entry."""
    folder = Path(folder)
    path = folder / BENCHMARK_FILE
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"cannot read benchmark {str(path)!r}: {exc}") from exc
    if not isinstance(entries, list) or not entries:
        raise InputFileError(f"{path}: expected a non-empty JSON list of items")
    items, problems, seen = [], [], set()
    for number, entry in enumerate(entries):
        try:
            item = parse_item(entry, folder)
        except InputFileError as exc:
            problems.append(f"item {number}: {exc}")
            continue
        if item.id in seen:
            problems.append(f"item {number}: id {item.id!r} is used twice")
        seen.add(item.id)
        items.append(item)
    if problems:
        raise InputFileError(f"{path}: {len(problems)} invalid item(s):\n  " + "\n  ".join(problems))
    return items


def parse_item(entry: Any, folder: Path) -> BenchmarkItem:
    if not isinstance(entry, dict):
        raise InputFileError(f"expected an object, got {type(entry).__name__}")
    fields = {key: entry.get(key) for key in ("id", "image", "instruction", "category")}
    for key, value in fields.items():
        if not isinstance(value, str) or not value.strip():
            raise InputFileError(f"{key!r} must be a non-empty string, got {value!r}")
    if not ID_PATTERN.fullmatch(fields["id"]):
        raise InputFileError(f"id {fields['id']!r} must be letters, digits, '.', '_' or '-'")
    if fields["category"] == ALL:
        raise InputFileError(f"category {ALL!r} is reserved for the overall row")
    image = folder / fields["image"]
    if not image.is_file():
        raise InputFileError(f"image {fields['image']!r} not found (looked for {image})")
    return BenchmarkItem(fields["id"], image.resolve(), fields["instruction"], fields["category"])
