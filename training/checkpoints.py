"""Checkpoint folders in the output directory: DIR/checkpoint-STEP and DIR/final.

Each is written under a temporary name and renamed when complete, so the newest
`checkpoint-STEP` is always whole: a run killed mid-save resumes from the previous one.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from .state import has_state

FINAL = "final"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def checkpoint_folder(out: Path, step: int) -> Path:
    return out / f"checkpoint-{step}"


def checkpoints(out: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint, oldest first."""
    if not out.is_dir():
        return []
    found = []
    for path in out.iterdir():
        match = _CHECKPOINT.fullmatch(path.name)
        if match and has_state(path):
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[-1][1] if found else None


def write_atomically(folder: Path, write: Callable[[Path], None]) -> Path:
    """Run `write` on a temporary sibling folder, then move it into place (replacing an old one)."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)
    return folder


def prune_checkpoints(out: Path, keep: int | None) -> None:
    """Delete all but the newest `keep` checkpoints (None keeps them all)."""
    if keep is None:
        return
    for _, path in checkpoints(out)[:-keep]:
        shutil.rmtree(path)
