"""Mixed precision on CUDA (runs only where a GPU is present)."""

from __future__ import annotations

import pytest
import torch

from model import load_components
from training import Trainer
from training.state import load_state

from .helpers import tiny_config


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_trains_fp32_weights_and_resumes(manifest, tmp_path, precision):
    settings = {"mixed_precision": precision, "gradient_checkpointing": True, "ema": True}
    settings |= {"max_steps": 4, "checkpoint_every": 2, "validate_every": 4}
    trainer = Trainer(tiny_config(manifest, tmp_path, **settings))
    assert trainer.accelerator.device.type == "cuda"
    final = trainer.fit()

    components = load_components(final)
    for module in (components.unet, components.reward, components.vae, components.text_encoder):
        assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in module.parameters())
    state, _, _ = load_state(tmp_path / "checkpoint-4")
    assert (state.grad_scaler is not None) == (precision == "fp16")

    resumed = Trainer(tiny_config(manifest, tmp_path, resume=True, **{**settings, "max_steps": 6}))
    assert resumed.step == 4
    resumed.fit()
    state, _, _ = load_state(tmp_path / "checkpoint-6")
    assert state.step == 6
