"""The whole flow in both modes: submit, follow, fetch; the same pixels as the pipeline directly."""

from __future__ import annotations

import html
import io

import numpy as np
import pytest
from PIL import Image

from worker.model_source import DEMO_NOTICE

from .helpers import encode, reference_edit

FIELDS = {
    "instruction": "make the square red",
    "following": 4.0,
    "preserving": 3.5,
    "quality_text": "slightly blurry",
    "steps": 5,
    "guidance_scale": 6.0,
    "image_guidance_scale": 1.2,
    "reward_guidance_scale": 2.0,
    "seed": 1234,
}


def test_submit_follow_and_fetch_the_same_pixels_as_the_pipeline(
    request, any_stack, source_image, source_png
):
    pipe = request.getfixturevalue("reference_pipe" if any_stack.model else "demo_pipe")
    client = any_stack.client()
    submitted = client.submit_ok(source_png, **FIELDS)
    assert submitted["status"] in ("queued", "running", "succeeded")
    assert submitted["seed"] == FIELDS["seed"]
    assert submitted["params"]["instruction"] == FIELDS["instruction"]
    assert submitted["params"]["quality"] == 5.0  # a default
    assert submitted["progress"]["total"] == FIELDS["steps"]

    events = list(client.events(submitted["id"]))
    assert events[-1]["status"] == "succeeded"
    steps = [event["progress"]["step"] for event in events]
    assert steps == sorted(steps) and steps[-1] == FIELDS["steps"]

    job = client.job(submitted["id"])
    assert job["status"] == "succeeded" and job["error"] is None and job["queue_position"] is None
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    assert job["result_url"] == f"/jobs/{job['id']}/result"
    result = client.result(job["id"])
    assert result.size == source_image.size
    expected = reference_edit(pipe, source_image, FIELDS)
    assert np.array_equal(np.asarray(result.convert("RGB")), np.asarray(expected))


def test_prefer_wait_answers_200_with_the_finished_job(any_stack, source_png):
    response = any_stack.client().submit(source_png, headers={"Prefer": "wait=30"}, steps=3, seed=1)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert response.headers["preference-applied"] == "wait=30"
    assert response.headers["location"] == f"/jobs/{response.json()['id']}"


def test_exif_orientation_is_applied(any_stack, source_image):
    tall = source_image.resize((64, 128))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    client = any_stack.client()
    job = client.submit_ok(encode(tall, "JPEG", exif=exif), filename="tall.jpg", steps=2)
    assert client.wait(job["id"])["status"] == "succeeded"
    assert client.result(job["id"]).size == (128, 64)


def test_result_is_resized_to_max_side_in_multiples_of_8(broker_stack, source_image):
    client = broker_stack.client()
    job = client.submit_ok(encode(source_image.resize((300, 200))), steps=2, max_side=100)
    assert client.wait(job["id"])["status"] == "succeeded"
    assert client.result(job["id"]).size == (96, 64)


def test_service_endpoints(any_stack):
    client = any_stack.client()
    health = client.http.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["mode"] == ("embedded" if any_stack.model is None else "broker")
    assert [model["name"] for model in body["models"]] == [
        "demo (synthetic world)" if any_stack.model is None else any_stack.model.name
    ]

    ready = client.http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "workers": 1}

    page = client.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # The default is the demo model and the service says what it can edit; a given checkpoint has no notice.
    assert (body["notice"] == DEMO_NOTICE) == (any_stack.model is None)
    assert (html.escape(DEMO_NOTICE) in page.text) == (any_stack.model is None)

    assert client.http.get("/docs").status_code == 200
    schema = client.http.get("/openapi.json").json()
    assert {"/edit", "/jobs/{job_id}", "/jobs/{job_id}/result", "/jobs/{job_id}/events"} <= set(
        schema["paths"]
    )

    metrics = client.http.get("/metrics")
    assert metrics.status_code == 200
    assert "rewardedit_jobs_submitted_total" in metrics.text
    assert 'rewardedit_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


@pytest.mark.parametrize(
    ("kind", "image"),
    [
        ("rgba_png", lambda base: encode(base.convert("RGBA"))),
        ("cmyk_jpeg", lambda base: encode(base.convert("CMYK"), "JPEG")),
        ("16bit_png", lambda base: encode(Image.fromarray(np.asarray(base.convert("L"), np.uint16) * 257))),
        ("webp", lambda base: encode(base, "WEBP", lossless=True)),
        ("palette_png", lambda base: encode(base.convert("P"))),
    ],
)
def test_awkward_but_valid_images_are_converted(broker_stack, source_image, kind, image):
    """DESIGN.md: inputs are converted to RGB; a supported format in another mode is not an error."""
    data = image(source_image)
    if kind == "16bit_png":
        assert Image.open(io.BytesIO(data)).mode.startswith("I")
    client = broker_stack.client()
    job = client.submit_ok(data, steps=2)
    assert client.wait(job["id"])["status"] == "succeeded"
    assert client.result(job["id"]).size == source_image.size
