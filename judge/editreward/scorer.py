"""`EditRewardScorer`: EditReward scores for batches of edits, from Python or the command line.

Each head's score is the mean mu of its output (the release's uncertainty-trained heads output
[mu, log sigma]); "overall" is the two heads' mean, as the released inferencer's mean pooling
gives it. Scores are unbounded (typically within -3 to 2): good for ranking and
thresholds, mapped to 0-5 only by a calibration (calibration.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import LoadedRewardModel, load_reward_model
from .edits import EditToScore
from .inputs import InputBuilder
from .prompts import HEADS

DEFAULT_BATCH_SIZE = 4  # edits per forward pass (two rows each)


@dataclass(frozen=True)
class RewardScores:
    """Each head's mu; None for a head that was not asked for."""

    instruction_following: float | None
    visual_quality: float | None

    @property
    def overall(self) -> float | None:
        if self.instruction_following is None or self.visual_quality is None:
            return None
        return (self.instruction_following + self.visual_quality) / 2

    def by_head(self) -> dict[int, float]:
        """The heads that were asked for: {head index: mu}."""
        mus = (self.instruction_following, self.visual_quality)
        return {head: mu for head, mu in enumerate(mus) if mu is not None}

    def to_dict(self) -> dict[str, float | None]:
        """The `rewardedit reward-score --json` object."""
        return {
            "instruction_following": self.instruction_following,
            "visual_quality": self.visual_quality,
            "overall": self.overall,
        }


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA, as the release runs; fp32 elsewhere."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


class EditRewardScorer:
    def __init__(self, loaded: LoadedRewardModel, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.model = loaded.model
        self.inputs = InputBuilder(loaded.base)
        self.fingerprint = loaded.fingerprint
        self.batch_size = batch_size
        self.device = next(self.model.parameters()).device

    @classmethod
    def from_pretrained(
        cls,
        reward_model: str | Path,
        base_model: str | Path | None = None,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> EditRewardScorer:
        """Load a released checkpoint (see checkpoint.py); device defaults to CUDA when there is one."""
        target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        loaded = load_reward_model(reward_model, base_model, target, dtype or default_dtype(target))
        return cls(loaded, batch_size)

    def score(self, edits: Sequence[EditToScore], heads: Sequence[int] = (0, 1)) -> list[RewardScores]:
        """Scores of every edit, batch_size at a time; UnscorableEditError for an edit it cannot score."""
        results: list[RewardScores] = []
        for start in range(0, len(edits), self.batch_size):
            batch = edits[start : start + self.batch_size]
            inputs = self.inputs.build(batch, heads).to(self.device)
            with torch.inference_mode():
                outputs = self.model(inputs)
            mus = outputs[:, 0].view(len(batch), len(heads)).tolist()
            for row in mus:
                by_head = dict(zip(heads, row, strict=True))
                results.append(RewardScores(*(by_head.get(head) for head in range(len(HEADS)))))
        return results
