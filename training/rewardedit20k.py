"""Importer from the RewardEdit-20K release layout to a training manifest.

The release pairs InstructPix2Pix sample folders (`<folder>/prompt.json` with the "edit"
instruction, `<seed>_0.jpg` the source and `<seed>_1.jpg` the edited image) with one JSON file that
maps each folder name to three {"Score", "Negative Prompt"} entries in following / preserving /
quality order. The manifest references the images in place (paths relative to the manifest).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model import InvalidInputError, Rewards

from .manifest import ManifestError, ManifestRow, write_manifest

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class ImportResult:
    manifest: Path
    written: int
    skipped: int


def import_rewardedit20k(
    images: str | Path, rewards: str | Path, out: str | Path, skip_invalid: bool = False
) -> ImportResult:
    """Write a manifest for every folder the rewards JSON names; a bad folder fails the import
    unless `skip_invalid`, which logs and drops it (useful with a partial image download)."""
    images, out = Path(images), Path(out)
    labels = _load_labels(Path(rewards))
    rows: list[ManifestRow] = []
    skipped = 0
    for folder_name, entries in labels.items():
        try:
            rows.append(_row(images / folder_name, folder_name, entries))
        except ManifestError as exc:
            if not skip_invalid:
                raise ManifestError(f"{exc} (pass --skip-invalid to leave such folders out)") from exc
            logger.warning("skipping %s", exc)
            skipped += 1
    if not rows:
        raise ManifestError(f"no usable sample folders under {images}")
    return ImportResult(write_manifest(rows, out), len(rows), skipped)


def _load_labels(path: Path) -> dict[str, Any]:
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read the rewards JSON {str(path)!r}: {exc}") from exc
    if not isinstance(labels, dict):
        raise ManifestError(f"{path} must map sample folder names to reward lists")
    return labels


def _row(folder: Path, name: str, entries: Any) -> ManifestRow:
    source, edited = _image_pair(folder, name)
    return ManifestRow(name, source, edited, _instruction(folder, name), _rewards(entries, name))


def _image_pair(folder: Path, name: str) -> tuple[Path, Path]:
    if not folder.is_dir():
        raise ManifestError(f"sample {name!r}: folder {folder} not found")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    sources = [p for p in images if p.stem.endswith("_0")]
    pairs = [(src, edited) for src in sources for edited in images if edited.stem == src.stem[:-2] + "_1"]
    if len(pairs) != 1:
        found = ", ".join(p.name for p in images) or "no images"
        raise ManifestError(
            f"sample {name!r}: expected one <seed>_0 / <seed>_1 image pair in {folder}, found {found}"
        )
    return pairs[0]


def _instruction(folder: Path, name: str) -> str:
    try:
        prompt = json.loads((folder / "prompt.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"sample {name!r}: cannot read prompt.json: {exc}") from exc
    edit = prompt.get("edit") if isinstance(prompt, dict) else None
    if not isinstance(edit, str) or not edit.strip():
        raise ManifestError(f"sample {name!r}: prompt.json has no 'edit' instruction")
    return edit


def _rewards(entries: Any, name: str) -> Rewards:
    if not isinstance(entries, list) or len(entries) != 3 or not all(isinstance(e, dict) for e in entries):
        raise ManifestError(
            f"sample {name!r}: expected three {{'Score', 'Negative Prompt'}} entries, got {entries!r}"
        )
    try:
        scores = [_score(entry["Score"]) for entry in entries]
        texts = [str(entry["Negative Prompt"]) for entry in entries]
        return Rewards(*scores, *texts)
    except (KeyError, ValueError) as exc:  # InvalidInputError is a ValueError
        raise ManifestError(f"sample {name!r}: bad reward entry: {exc}") from exc


def _score(value: Any) -> float:
    """Scores are numbers, or numeric strings as a language model sometimes writes them."""
    if isinstance(value, str):
        return float(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"score must be a number, got {value!r}")
    return value
