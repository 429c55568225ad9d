"""Shared fixtures: tiny checkpoints built offline, once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from model import make_model

# The tiny models run fastest on one thread, and OpenMP threads contending for this machine's two
# cores (with the Redis, worker and server processes the tests start) stall badly. Subprocesses
# (workers, CLI runs) inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `tiny` preset RewardEdit checkpoint folder (zero-initialised reward modules)."""
    return make_model("tiny", tmp_path_factory.mktemp("ckpt") / "tiny", seed=0)


@pytest.fixture
def source_image() -> Image.Image:
    """A 64x64 RGB image with structure (gradients and a square), so edits are visible in pixels."""
    x = torch.linspace(0, 255, 64)
    red = x[None, :].expand(64, 64)
    green = x[:, None].expand(64, 64)
    blue = torch.full((64, 64), 90.0)
    blue[16:48, 16:48] = 230.0
    array = torch.stack([red, green, blue], dim=-1).round().to(torch.uint8).numpy()
    return Image.fromarray(array)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu`-marked tests where there is no CUDA device (CI and developer machines)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
