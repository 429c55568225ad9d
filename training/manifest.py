"""The training manifest (DESIGN.md section 4): JSON Lines of (source, edited, instruction, rewards).

Reading checks every line up front, so a broken 20K-line manifest fails before hours of training
start, with every problem named by its line number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model import InvalidInputError, Rewards
from model.rewards import PERSPECTIVES

MAX_REPORTED_PROBLEMS = 20


class ManifestError(ValueError):
    """The manifest is unreadable or some of its lines are invalid; the message names each line."""


@dataclass(frozen=True)
class ManifestRow:
    """One training triplet; paths are absolute once read, `line` is its 1-based manifest line.

    `mask` (optional, beyond DESIGN.md's fields): a greyscale image, white where the instruction asks
    for a change, as MagicBrush ships and synth-data writes. Where an edited image is also degraded
    all over, only the mask still says which pixels the edit itself is about (the region loss).
    """

    id: str
    source: Path
    edited: Path
    instruction: str
    rewards: Rewards | None = None
    line: int = 0
    mask: Path | None = None

    def to_json(self, base: Path) -> dict[str, Any]:
        """The manifest record, with paths relative to the manifest's folder `base`."""
        record: dict[str, Any] = {
            "id": self.id,
            "source": Path(os.path.relpath(self.source, base)).as_posix(),
            "edited": Path(os.path.relpath(self.edited, base)).as_posix(),
            "instruction": self.instruction,
        }
        if self.mask is not None:
            record["mask"] = Path(os.path.relpath(self.mask, base)).as_posix()
        if self.rewards is not None:
            texts = (self.rewards.following_text, self.rewards.preserving_text, self.rewards.quality_text)
            record["rewards"] = {
                name: {"score": score, "text": text}
                for name, score, text in zip(PERSPECTIVES, self.rewards.scores, texts, strict=True)
            }
        return record


def write_manifest(rows: Iterable[ManifestRow], path: str | Path) -> Path:
    """Write rows as a manifest; written to a temporary file first so a crash leaves no half manifest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row.to_json(base), ensure_ascii=False) + "\n")
    partial.replace(path)
    return path


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Parse and check a whole manifest: JSON, fields, score ranges, image files and unique ids."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {str(path)!r}: {exc}") from exc
    base = path.parent.resolve()
    rows: list[ManifestRow] = []
    problems: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            row = _parse_line(text, number, base)
        except ManifestError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        if row.id in first_line_of:
            problems.append(f"line {number}: id {row.id!r} already used on line {first_line_of[row.id]}")
            continue
        first_line_of[row.id] = number
        rows.append(row)
    if problems:
        shown = "\n  ".join(problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - MAX_REPORTED_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise ManifestError(f"{path}: {len(problems)} invalid line(s):\n  {shown}{tail}")
    if not rows:
        raise ManifestError(f"{path}: the manifest holds no samples")
    return rows


def _parse_line(text: str, number: int, base: Path) -> ManifestRow:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(record, dict):
        raise ManifestError(f"expected a JSON object, got {type(record).__name__}")
    sample_id = _string(record, "id")
    instruction = _string(record, "instruction")
    source, edited = (_image_path(record, key, base) for key in ("source", "edited"))
    rewards = _rewards(record["rewards"]) if record.get("rewards") is not None else None
    mask = _image_path(record, "mask", base) if record.get("mask") is not None else None
    return ManifestRow(sample_id, source, edited, instruction, rewards, number, mask)


def _string(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{key!r} must be a non-empty string, got {value!r}")
    return value


def _image_path(record: dict[str, Any], key: str, base: Path) -> Path:
    relative = _string(record, key)
    path = (base / relative).resolve()
    if not path.is_file():
        raise ManifestError(f"{key} file {relative!r} not found (looked for {path})")
    return path


def _rewards(value: Any) -> Rewards:
    if not isinstance(value, dict):
        raise ManifestError(f"'rewards' must be an object, got {type(value).__name__}")
    fields: dict[str, Any] = {}
    for name in PERSPECTIVES:
        entry = value.get(name)
        if not isinstance(entry, dict) or "score" not in entry:
            raise ManifestError(f"rewards.{name} must be an object with a 'score', got {entry!r}")
        fields[name] = entry["score"]
        fields[f"{name}_text"] = entry.get("text", "None")
    try:
        return Rewards(**fields)
    except InvalidInputError as exc:
        raise ManifestError(str(exc)) from exc
