"""AURORA-Bench's human ratings, as pairs: which of two edits of one source the humans rated higher.

EditReward evaluated on it in its evaluation JSON (`valid_aurora_human_ratings_pairwise.json`), the
same layout as its GenAI-Bench file: `prompt`, `path_src`, `path1`, `path2`, and the human scores
`model1_dim1_score` / `model2_dim1_score` (equal scores: a tie). Rows in the arena layout
(`vote_type`) are read too.
"""

from __future__ import annotations

from pathlib import Path

from .genai_bench import load_pairs
from .items import Benchmark

NAME = "aurora-bench"


def load(path: Path) -> Benchmark:
    return load_pairs(path, NAME)
