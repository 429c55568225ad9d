"""Helpers shared by the model tests."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from model import RewardConditionModel


def randomize_rewards(reward: RewardConditionModel, seed: int = 0, scale: float = 0.2) -> None:
    """Give every reward parameter (the zero-initialised ones too) random values, so the condition acts."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in reward.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)
