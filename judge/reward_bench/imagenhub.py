"""ImagenHub's human ratings of instruction-guided edits: one edit, one rating, per editing model.

Read in the layout of EditReward's evaluation JSON (`valid_imagenhub_processed.json`): `instruction`,
`input_path` (the source), `output_path` (the edit), `score` (the human rating), `model` (the
editing model that made it) and optionally `filename`. A judge is measured by Spearman's rho
between its scores and the ratings within each editing model, pooled with Fisher's z.
"""

from __future__ import annotations

from pathlib import Path

from .items import RATING, BenchItem, Benchmark, field_of, image, records

NAME = "imagenhub"


def load(path: Path) -> Benchmark:
    items = []
    for number, (record, folder) in enumerate(records(path)):
        items.append(
            BenchItem(
                id=str(record.get("filename") or record.get("id") or number),
                instruction=str(field_of(record, "instruction", "prompt")),
                source=image(field_of(record, "input_path", "input"), folder, f"row {number} input_path"),
                candidates=(
                    image(field_of(record, "output_path", "gen"), folder, f"row {number} output_path"),
                ),
                rating=float(field_of(record, "score")),
                group=str(record.get("model") or "unknown"),
            )
        )
    return Benchmark(NAME, RATING, items)
