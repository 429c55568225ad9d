"""Fixed scenes and edits for the synth tests."""

from __future__ import annotations

import numpy as np
import pytest

from synth.edits import EditCase
from synth.generate import scene_cases
from synth.vocabulary import CATEGORIES


@pytest.fixture(scope="session")
def cases() -> list[EditCase]:
    """One edit per category on each of a few scenes."""
    return [case for index in range(3) for case in scene_cases(7, 0, index, 64, CATEGORIES)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
