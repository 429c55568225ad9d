"""The reward-conditioned InstructPix2Pix model and its sampling pipeline.

Names are imported on first use: the API process (broker mode) needs only the errors, rewards and
image helpers, and importing diffusers and transformers would cost it seconds at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CheckpointError": "errors",
    "EditCanceled": "errors",
    "InvalidInputError": "errors",
    "NonFiniteImageError": "errors",
    "Rewards": "rewards",
    "Components": "checkpoint",
    "load_components": "checkpoint",
    "save_components": "checkpoint",
    "RewardEditPipeline": "pipeline",
    "RewardEditPipelineOutput": "pipeline",
    "EditRequest": "pipeline",
    "build_preset": "presets",
    "make_model": "presets",
    "RewardConditionModel": "reward_model",
    "RewardEditUNet": "unet",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
