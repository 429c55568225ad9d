"""Samplers per request and checkpoints without a null reward, through the real service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from model import RewardEditPipeline, build_preset
from tests.model.release import write_release_folder

from .helpers import Stack, error_of, reference_edit, start_stack

FIELDS = {"instruction": "make the square red", "steps": 3, "seed": 7}


def test_a_job_samples_with_the_scheduler_it_asks_for(request, any_stack, source_image, source_png):
    pipe = request.getfixturevalue("reference_pipe" if any_stack.model else "demo_pipe")
    client = any_stack.client()
    job = client.wait(client.submit_ok(source_png, scheduler="dpmpp_2m", **FIELDS)["id"])
    assert job["status"] == "succeeded" and job["params"]["scheduler"] == "dpmpp_2m"
    result = np.asarray(client.result(job["id"]).convert("RGB"))
    assert np.array_equal(
        result, np.asarray(reference_edit(pipe, source_image, {**FIELDS, "scheduler": "dpmpp_2m"}))
    )
    assert not np.array_equal(result, np.asarray(reference_edit(pipe, source_image, FIELDS)))


def test_an_unknown_scheduler_is_refused_with_the_names_it_could_be(any_stack, source_png):
    response = any_stack.client().submit(source_png, scheduler="k_lms", **FIELDS)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_field" and "euler_a" in error["message"] and "unipc" in error["message"]


@pytest.fixture(scope="module")
def release_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded service on a checkpoint in the released Reward-InsPix2Pix layout."""
    folder: Path = tmp_path_factory.mktemp("release") / "stage2_reward_instruct_pix2pix"
    write_release_folder(build_preset("tiny", seed=2), folder)
    stack = start_stack(tmp_path_factory.mktemp("release-stack"), folder)
    yield stack
    stack.stop()


def test_the_release_layout_serves_its_edits(release_stack, source_image, source_png):
    client = release_stack.client()
    fields = {**FIELDS, "quality": 2.0, "following_text": "the square is not red"}
    job = client.wait(client.submit_ok(source_png, **fields)["id"])
    assert job["status"] == "succeeded"
    pipe = RewardEditPipeline.from_pretrained(release_stack.model)
    expected = reference_edit(pipe, source_image, fields)
    assert np.array_equal(np.asarray(client.result(job["id"]).convert("RGB")), np.asarray(expected))


def test_reward_guidance_on_a_model_without_null_reward_is_a_4xx(release_stack, source_png):
    response = release_stack.client().submit(source_png, reward_guidance_scale=2.0, **FIELDS)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "reward_guidance_unsupported" and "null reward" in error["message"]
