"""Input preparation: EXIF orientation, colour modes and the size rules."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model import InvalidInputError
from model.image import prepare_image, target_size


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((64, 64), 512, (64, 64)),
        ((1000, 600), 512, (512, 304)),
        ((70, 90), 512, (64, 88)),
        ((600, 1000), 256, (152, 256)),
    ],
)
def test_long_side_fits_and_both_sides_are_multiples_of_8(size, max_side, expected):
    assert target_size(*size, max_side=max_side) == expected


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (96, 64), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.info["exif"] = exif.tobytes()
    rotated = Image.open(_roundtrip_jpeg(image, exif))
    assert prepare_image(rotated).size == (64, 96)


def _roundtrip_jpeg(image: Image.Image, exif) -> object:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK", "I;16", "LA"])
def test_every_colour_mode_becomes_rgb(mode):
    image = Image.new("RGB", (64, 64), (10, 200, 30)).convert(mode)
    prepared = prepare_image(image)
    assert prepared.mode == "RGB" and prepared.size == (64, 64)


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    assert np.asarray(prepare_image(image)).min() == 255


def test_tiny_images_are_refused():
    with pytest.raises(InvalidInputError):
        prepare_image(Image.new("RGB", (63, 500)))


def test_dark_16_bit_image_keeps_its_brightness():
    dark = Image.fromarray(np.full((64, 64), 200, dtype=np.uint16))  # 200 / 65535: nearly black
    assert dark.mode.startswith("I;16")
    assert np.asarray(prepare_image(dark)).max() <= 1
