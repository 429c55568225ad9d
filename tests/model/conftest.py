"""Fixtures for the model tests: a plain InstructPix2Pix folder written by diffusers itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import build_preset
from model.benchmark import stock_pipeline


@pytest.fixture(scope="session")
def ip2p_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain InstructPix2Pix checkpoint saved by diffusers' own pipeline (no reward/ folder)."""
    folder = tmp_path_factory.mktemp("ip2p") / "plain"
    stock_pipeline(build_preset("tiny", seed=1)).save_pretrained(folder, safe_serialization=True)
    assert not (folder / "reward").exists()
    return folder
