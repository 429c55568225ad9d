"""What every benchmark loader yields: items of edits with the human judgement of them.

Three kinds of benchmark, by what the humans said:
- PAIRWISE (GenAI-Bench, AURORA-Bench): two edits of one source, which is better or a tie;
- RATING (ImagenHub): one edit with a human rating, grouped by the editing model that made it;
- RANKING (EditReward-Bench): K = 2, 3 or 4 edits of one source with their human ranking.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from ..batch import open_upright
from ..errors import InputFileError

PAIRWISE, RATING, RANKING = "pairwise", "rating", "ranking"


@dataclass(frozen=True)
class ImageRef:
    """An image in a file, or embedded in the benchmark file (parquet image cells hold the bytes)."""

    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)

    def open(self) -> Image.Image:
        """The image upright (EXIF applied), PNG text chunks kept; InputFileError if unreadable."""
        if self.data is None:
            if self.path is None:
                raise InputFileError("an image reference with neither a path nor bytes")
            return open_upright(self.path)
        try:
            with Image.open(io.BytesIO(self.data)) as img:
                img.load()
                return ImageOps.exif_transpose(img.copy())
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InputFileError(f"cannot read an embedded image ({self.path or 'no name'}): {exc}") from exc


@dataclass(frozen=True)
class BenchItem:
    """One unit the metrics count: a pair, a rated edit, or a ranked group.

    relations: PAIRWISE and RANKING, {(i, j): 1 if candidate i is better than j, -1 worse, 0 tie}
    over candidate indices, i < j; rating: RATING, the human rating of candidates[0]; group: the
    editing model (RATING) or the subset a group came from (RANKING).
    """

    id: str
    instruction: str
    source: ImageRef
    candidates: tuple[ImageRef, ...]
    relations: Mapping[tuple[int, int], int] = field(default_factory=dict)
    rating: float | None = None
    group: str = ""


@dataclass(frozen=True)
class Benchmark:
    name: str
    kind: str
    items: list[BenchItem]


# ---- reading the files ---------------------------------------------------------------------------


def records(path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """(record, folder its relative paths start from) for every row of a benchmark file or folder.

    .json (a list of objects), .jsonl, and .parquet (as the Hugging Face releases lay them out; needs
    pyarrow); a folder: every such file in it, recursively, in sorted order.
    """
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl", ".parquet"))
        if not files:
            raise InputFileError(f"{path} holds no .json, .jsonl or .parquet file")
        for file in files:
            yield from records(file)
        return
    if not path.is_file():
        raise InputFileError(f"benchmark file {path} does not exist")
    if path.suffix == ".parquet":
        yield from ((row, path.parent) for row in _parquet_rows(path))
        return
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = json.loads(text)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc
    if isinstance(rows, dict):  # some exports wrap the rows: {"data": [...]}
        rows = rows.get("data", rows.get("rows"))
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise InputFileError(f"{path}: expected a list of objects")
    yield from ((row, path.parent) for row in rows)


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # an optional dependency: only the parquet releases need it
        raise InputFileError(f"reading {path.name} needs pyarrow: pip install 'rewardedit[bench]'") from exc
    try:
        return pq.read_table(path).to_pylist()
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc


def image(value: Any, folder: Path, what: str) -> ImageRef:
    """An image cell: a path (relative to the file's folder) or a parquet image {"bytes", "path"}."""
    if isinstance(value, dict) and value.get("bytes"):
        return ImageRef(Path(value["path"]) if value.get("path") else None, bytes(value["bytes"]))
    if isinstance(value, dict) and value.get("path"):
        value = value["path"]
    if isinstance(value, str) and value:
        return ImageRef(folder / value)
    raise InputFileError(f"{what}: expected an image path or embedded image, got {type(value).__name__}")


def field_of(record: Mapping[str, Any], *names: str) -> Any:
    """The first of `names` the record has; InputFileError naming them all when it has none."""
    for name in names:
        if name in record and record[name] is not None:
            return record[name]
    raise InputFileError(f"a record lacks {' / '.join(repr(n) for n in names)} (it has {sorted(record)})")


def compare(a: float, b: float) -> int:
    return (a > b) - (a < b)
