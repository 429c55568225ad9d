"""Bad inputs: each gets its 4xx JSON error, and the service keeps working afterwards."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from .helpers import MAX_UPLOAD_BYTES, encode, error_of


def bomb_png(width: int, height: int) -> bytes:
    """A complete, valid 1-bit PNG of zeros: kilobytes that decode to width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def noisy(size: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))


# name: (build the request from a client and a good PNG, expected status, expected code)
CORPUS = {
    "truncated_png": (lambda c, png: c.submit(encode(noisy(64))[:3000]), 422, "invalid_image"),
    "zero_bytes": (lambda c, png: c.submit(b""), 422, "invalid_image"),
    "text_named_png": (lambda c, png: c.submit(b"not a picture at all\n" * 10), 422, "invalid_image"),
    "png_bomb": (lambda c, png: c.submit(bomb_png(30_000, 30_000)), 413, "image_too_large"),
    "png_over_our_pixel_limit": (lambda c, png: c.submit(bomb_png(5_000, 5_000)), 413, "image_too_large"),
    "gif": (lambda c, png: c.submit(encode(noisy(64), "GIF"), filename="a.gif"), 415, "unsupported_format"),
    "bmp": (lambda c, png: c.submit(encode(noisy(64), "BMP"), filename="a.bmp"), 415, "unsupported_format"),
    "too_small": (lambda c, png: c.submit(encode(noisy(32))), 422, "image_too_small"),
    "huge_instruction": (lambda c, png: c.submit(png, instruction="x" * 5000), 422, "invalid_field"),
    "blank_instruction": (lambda c, png: c.submit(png, instruction="   "), 422, "invalid_field"),
    "nan_score": (lambda c, png: c.submit(png, following="nan"), 422, "invalid_field"),
    "infinite_scale": (lambda c, png: c.submit(png, guidance_scale="inf"), 422, "invalid_field"),
    "score_above_5": (lambda c, png: c.submit(png, quality=5.5), 422, "invalid_field"),
    "negative_score": (lambda c, png: c.submit(png, preserving=-1), 422, "invalid_field"),
    "zero_steps": (lambda c, png: c.submit(png, steps=0), 422, "invalid_field"),
    "too_many_steps": (lambda c, png: c.submit(png, steps=151), 422, "invalid_field"),
    "max_side_too_small": (lambda c, png: c.submit(png, max_side=63), 422, "invalid_field"),
    "max_side_too_large": (lambda c, png: c.submit(png, max_side=2048), 422, "invalid_field"),
    "guidance_too_large": (lambda c, png: c.submit(png, guidance_scale=31), 422, "invalid_field"),
    "negative_seed": (lambda c, png: c.submit(png, seed=-1), 422, "invalid_field"),
    "unknown_scheduler": (lambda c, png: c.submit(png, scheduler="k_lms"), 422, "invalid_field"),
    "reward_text_too_long": (lambda c, png: c.submit(png, following_text="x" * 301), 422, "invalid_field"),
    "steps_not_a_number": (lambda c, png: c.submit(png, steps="many"), 422, "invalid_field"),
    "missing_image": (lambda c, png: c.submit(None), 422, "invalid_field"),
    "missing_instruction": (
        lambda c, png: c.http.post("/edit", files={"image": ("a.png", png, "image/png")}),
        422,
        "invalid_field",
    ),
    "json_body": (
        lambda c, png: c.http.post("/edit", json={"instruction": "x"}),
        415,
        "unsupported_media_type",
    ),
    "urlencoded_body": (
        lambda c, png: c.http.post("/edit", data={"instruction": "x"}),
        415,
        "unsupported_media_type",
    ),
    "oversize_upload": (
        lambda c, png: c.submit(os.urandom(MAX_UPLOAD_BYTES + 1024)),
        413,
        "upload_too_large",
    ),
    "idempotency_key_too_long": (
        lambda c, png: c.submit(png, headers={"Idempotency-Key": "k" * 201}),
        422,
        "invalid_field",
    ),
}


@pytest.mark.parametrize("name", CORPUS)
def test_bad_input_gets_its_4xx_json_error(broker_stack, source_png, name):
    build, status, code = CORPUS[name]
    response = build(broker_stack.client(), source_png)
    assert response.status_code == status, response.text
    assert error_of(response)["code"] == code


def test_the_service_still_works_after_the_corpus(broker_stack, source_png):
    client = broker_stack.client()
    for name, (build, status, _) in CORPUS.items():
        assert build(client, source_png).status_code == status, name
    assert client.http.get("/healthz").status_code == 200
    assert client.http.get("/readyz").status_code == 200
    job = client.submit_ok(source_png, steps=2)
    assert client.wait(job["id"])["status"] == "succeeded"
    metrics = client.http.get("/metrics").text
    assert 'rewardedit_errors_total{code="invalid_image"}' in metrics
    assert 'status="500"' not in metrics


def test_unknown_routes_and_methods_answer_json_errors(broker_stack):
    client = broker_stack.client()
    assert error_of(client.http.get("/nowhere"))["code"] == "not_found"
    response = client.http.put("/edit")
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"
