"""The per-step CSV log (DIR/logs/train.csv), kept consistent across resumes."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("step", "loss", "lr", "grad_norm", "elapsed_s")


class CsvLog:
    """Appends one row per optimizer step; on resume, drops rows after the resumed step first,
    so steps that were trained, lost with an unsaved checkpoint, and trained again appear once."""

    def __init__(self, path: Path, resume_step: int = 0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step and path.is_file():
            with path.open(newline="") as existing:
                kept = [row for row in csv.DictReader(existing) if int(row["step"]) <= resume_step]
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, COLUMNS)
            writer.writeheader()
            writer.writerows(kept)

    def write(self, **values: float) -> None:
        with self.path.open("a", newline="") as out:
            csv.DictWriter(out, COLUMNS).writerow(values)
