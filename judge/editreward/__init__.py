"""EditReward (TIGER-AI-Lab): a learned reward model of instruction-guided image edits, from its releases.

Names are imported on first use: the CLI and the judge registry must not pay for transformers'
Qwen2.5-VL modules (seconds) unless a reward model is actually loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EditToScore": "edits",
    "UnscorableEditError": "edits",
    "EditRewardScorer": "scorer",
    "RewardScores": "scorer",
    "RewardCheckpointError": "checkpoint",
    "load_reward_model": "checkpoint",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
