"""Checking an uploaded image: format allow-list and our pixel limit from the header, then decoding.

The pixel limit is checked before any pixel is decoded (Pillow reads the size lazily), so a
decompression bomb costs us a header read, whatever Pillow's own limit would allow. What a job
stores is the prepared image (EXIF-transposed, RGB, resized) as PNG: exactly what the pipeline
sees, small, and already proven decodable.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from model import InvalidInputError
from model.image import MIN_SIDE, prepare_image

from .errors import ApiError

# Pillow's format names; MPO is the multi-picture JPEG many cameras write.
ALLOWED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WebP"}
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)


def invalid_image(message: str) -> ApiError:
    return ApiError(422, "invalid_image", message)


def prepare_upload(data: bytes, max_side: int, max_pixels: int) -> tuple[bytes, tuple[int, int]]:
    """The upload as the PNG the pipeline will edit and its size, or an ApiError (4xx) saying what is wrong.

    Workers batch jobs of one size together, so the job record keeps the size.
    """
    image = read_upload(data, max_side, max_pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), image.size


def read_upload(data: bytes, max_side: int, max_pixels: int) -> Image.Image:
    """The upload as the image the pipeline would edit (upright RGB, long side <= max_side), or an ApiError.

    POST /score judges its images after the same checks, so they are what POST /edit would see.
    """
    if not data:
        raise invalid_image("the uploaded image is empty")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ApiError(413, "image_too_large", f"the image has too many pixels: {exc}") from exc
    except DECODE_ERRORS as exc:
        raise invalid_image("the upload is not a readable image") from exc
    with image:
        if image.format not in ALLOWED_FORMATS:
            allowed = ", ".join(sorted(set(ALLOWED_FORMATS.values())))
            raise ApiError(
                415, "unsupported_format", f"{image.format} images are not accepted; send {allowed}"
            )
        width, height = image.size
        if width * height > max_pixels:
            raise ApiError(
                413,
                "image_too_large",
                f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            )
        if min(width, height) < MIN_SIDE:
            raise ApiError(
                422,
                "image_too_small",
                f"the image is {width}x{height}; both sides must be at least {MIN_SIDE} px",
            )
        try:
            image.load()
            return prepare_image(image, max_side)  # a new image: it outlives closing the upload's
        except InvalidInputError as exc:
            raise invalid_image(str(exc)) from exc
        except DECODE_ERRORS as exc:
            raise invalid_image(f"the image is truncated or corrupt: {exc}") from exc
