"""The sample images the page offers are the committed output of tests/web/samples.py."""

from __future__ import annotations

import numpy as np
from PIL import Image

from api.routers.page import SAMPLES as SERVED

from .samples import FOLDER, SAMPLES


def test_the_committed_samples_are_the_drawn_ones():
    assert sorted(f"{name}.png" for name in SAMPLES) == SERVED
    for name, draw in SAMPLES.items():
        with Image.open(FOLDER / f"{name}.png") as committed:
            assert committed.format == "PNG" and committed.mode == "RGB"
            assert np.array_equal(np.asarray(committed), np.asarray(draw())), name
