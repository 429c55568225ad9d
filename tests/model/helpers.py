"""Helpers shared by the model tests."""

from __future__ import annotations

import numpy as np
import torch
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline
from PIL import Image

from model import RewardConditionModel


def stock_pipeline(components) -> StableDiffusionInstructPix2PixPipeline:
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=components.vae,
        text_encoder=components.text_encoder,
        tokenizer=components.tokenizer,
        unet=components.unet,
        scheduler=EulerAncestralDiscreteScheduler.from_config(components.scheduler.config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def randomize_rewards(reward: RewardConditionModel, seed: int = 0, scale: float = 0.2) -> None:
    """Give every reward parameter (the zero-initialised ones too) random values, so the condition acts."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in reward.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)
