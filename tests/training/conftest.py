"""Fixtures for the training tests: small generated datasets and the shipped tiny config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState, GradientState

from .helpers import make_dataset


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 80x64 triplets, every other one labelled with rewards."""
    return make_dataset(tmp_path_factory.mktemp("data"), count=6)


@pytest.fixture(autouse=True)
def fresh_accelerate_state() -> Iterator[None]:
    """Accelerate keeps process-wide singletons; each test's Trainer starts from a clean slate."""
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
