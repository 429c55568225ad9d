"""Workers edit compatible queued jobs together: one batch, each job its own result, each run once."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps
from pydantic import ValidationError

from api.images import prepare_upload
from api.schemas import EditForm
from model import RewardEditPipeline
from worker import runner
from worker.embedded import EmbeddedWorker
from worker.jobs import QUEUED, RUNNING, SUCCEEDED, JobRecord, batch_key, claim, cover, finish, new_job
from worker.model_source import ModelInfo
from worker.runner import SKIPPED, EditRunner, optimize_pipeline
from worker.settings import Settings
from worker.store import JobStore, Limits, input_key, result_key

from .helpers import Stack, encode, eventually, reference_edit, start_stack

MAX_BATCH = 4
LIMITS = Limits(queued=100, per_owner=None)
# Distinct creation times, so the queue order is the submission order.
_clock = itertools.count()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def assert_same_image(actual: Image.Image, expected: Image.Image) -> None:
    """Equal within 1/255 per pixel: batching changes float rounding, never the edit."""
    assert actual.size == expected.size
    assert np.abs(pixels(actual) - pixels(expected)).max() <= 1


def queue_job(store: JobStore, image: Image.Image, **fields: Any) -> tuple[JobRecord, dict[str, Any]]:
    """Store a queued job as POST /edit does; the job and its form fields (for the reference edit)."""
    fields = {"instruction": "make it blue", "seed": 0, **fields}
    form = EditForm(**fields)
    source, size = prepare_upload(encode(image), form.max_side, 4096 * 4096)
    job = new_job("owner", form.model_dump(exclude={"seed"}), form.seed, 1000.0 + next(_clock), size)
    store.insert(job, {input_key(job.id): source}, None, LIMITS)
    return job, fields


def stored_result(store: JobStore, job_id: str) -> Image.Image:
    return Image.open(BytesIO(store.get_blob(result_key(job_id))))


def runner_for(store: JobStore, pipe: RewardEditPipeline, max_batch: int = MAX_BATCH) -> EditRunner:
    model = ModelInfo(path=Path("tiny"), name="tiny")
    return EditRunner(store, pipe, model, lease_s=60, judge=None, weights={}, max_batch=max_batch)


# -- the rules --------------------------------------------------------------------------------------
def test_jobs_batch_together_only_with_the_same_size_steps_sampler_and_reward_guidance():
    params = EditForm(instruction="x", steps=3).model_dump(exclude={"seed"})
    base = new_job("owner", params, seed=1, now=1.0, size=(64, 64))
    assert batch_key(base) == batch_key(new_job("other", {**params, "following": 1.0}, 2, 2.0, (64, 64)))
    assert batch_key(base) != batch_key(new_job("owner", params, 1, 1.0, size=(64, 128)))
    assert batch_key(base) != batch_key(new_job("owner", {**params, "steps": 4}, 1, 1.0, (64, 64)))
    guided = {**params, "reward_guidance_scale": 2.0}
    assert batch_key(base) != batch_key(new_job("owner", guided, 1, 1.0, (64, 64)))
    assert batch_key(base) != batch_key(new_job("owner", {**params, "scheduler": "ddim"}, 1, 1.0, (64, 64)))
    assert batch_key(new_job("owner", {**params, "candidates": 2}, 1, 1.0, (64, 64))) is None
    assert batch_key(new_job("owner", params, 1, 1.0)) is None  # size unknown: runs alone


def test_batch_mates_are_listed_only_by_the_holder_or_on_a_finished_job():
    params = EditForm(instruction="x", steps=3).model_dump(exclude={"seed"})
    job = new_job("owner", params, seed=1, now=1.0, size=(64, 64))
    assert cover(job, "w1", ["a"]) is None  # queued: nobody's yet
    running = claim(job, "w1", now=2.0, lease_s=5)
    assert cover(running, "w2", ["a"]) is None
    covering = cover(running, "w1", ["a", "b"])
    assert covering.batch == ["a", "b"] and covering.status == RUNNING
    retaken = claim(covering, "w2", now=10.0, lease_s=5)  # w1 died: the list survives the takeover
    assert retaken.batch == ["a", "b"]
    done = finish(retaken, "w2", SUCCEEDED, now=11.0, batch_size=3)
    assert done.batch_size == 3 and cover(done, "w3", []).batch == []


def test_settings_read_the_batch_and_compile_settings(monkeypatch):
    monkeypatch.setenv("REWARDEDIT_MAX_BATCH", "4")
    monkeypatch.setenv("REWARDEDIT_OPTIMIZE", "compile")
    monkeypatch.setenv("REWARDEDIT_COMPILE_SIZES", "512x512, 384x512")
    monkeypatch.setenv("REWARDEDIT_COMPILE_BATCHES", "1,4")
    monkeypatch.setenv("REWARDEDIT_COMPILE_REWARD_GUIDANCE", "true")
    settings = Settings()
    assert settings.max_batch == 4 and settings.optimize == "compile" and settings.compile_reward_guidance
    assert settings.compile_sizes == [(512, 512), (384, 512)] and settings.compile_batches == [1, 4]
    for bad in ("500x512", "512", "32x32"):
        monkeypatch.setenv("REWARDEDIT_COMPILE_SIZES", bad)
        with pytest.raises(ValidationError, match="compile_sizes"):
            Settings()


def test_a_worker_that_cannot_compile_serves_the_plain_eager_modules(tiny_checkpoint, monkeypatch):
    pipe = RewardEditPipeline.from_pretrained(tiny_checkpoint)
    assert optimize_pipeline(pipe, Settings(), max_batch=2) == {"level": "off"}  # the CPU default

    def no_compiler(*args: Any, **kwargs: Any) -> float:
        raise RuntimeError("no C compiler")

    monkeypatch.setattr(runner, "compile_buckets", no_compiler)
    info = optimize_pipeline(pipe, Settings(optimize="compile"), max_batch=2)
    assert info == {"level": "off", "compile_error": "RuntimeError: no C compiler"}
    assert pipe.components.unet.conv_in.weight.is_contiguous()  # `optimize` undone


# -- one runner, in this process -------------------------------------------------------------------
def test_a_runner_batches_the_oldest_compatible_queued_jobs_and_leaves_the_others(
    local_store, reference_pipe, source_image
):
    mirrored = ImageOps.mirror(source_image)
    first, first_fields = queue_job(local_store, source_image, steps=3, seed=1)
    other_size, _ = queue_job(local_store, source_image.resize((128, 64)), steps=3)
    second, second_fields = queue_job(
        local_store, mirrored, steps=3, seed=2, following=1.5, quality_text="blurry", guidance_scale=5.0
    )
    other_steps, _ = queue_job(local_store, source_image, steps=4)
    guided, _ = queue_job(local_store, source_image, steps=3, reward_guidance_scale=2.0)
    third, third_fields = queue_job(local_store, source_image, steps=3, seed=3, image_guidance_scale=2.0)
    fourth, fourth_fields = queue_job(local_store, mirrored, steps=3, seed=4)
    fifth, _ = queue_job(local_store, source_image, steps=3, seed=5)
    runner = runner_for(local_store, reference_pipe)

    assert runner.run(first.id) == SUCCEEDED
    batch = [first, second, third, fourth]  # the oldest four compatible jobs: MAX_BATCH
    for job in batch:
        record = local_store.get(job.id)
        assert (record.status, record.batch_size, record.attempts) == (SUCCEEDED, MAX_BATCH, 1)
    assert local_store.get(first.id).batch == [second.id, third.id, fourth.id]
    for job in (other_size, other_steps, guided, fifth):
        assert local_store.get(job.id).status == QUEUED
    expected = {
        first.id: (source_image, first_fields),
        second.id: (mirrored, second_fields),
        third.id: (source_image, third_fields),
        fourth.id: (mirrored, fourth_fields),
    }
    for job_id, (image, fields) in expected.items():
        assert_same_image(stored_result(local_store, job_id), reference_edit(reference_pipe, image, fields))

    assert runner.run(second.id) == SKIPPED  # the batch-mates' own turns find them done
    assert runner.run(fifth.id) == SUCCEEDED  # the others share nothing with it
    assert local_store.get(fifth.id).batch_size == 1
    assert local_store.get(other_size.id).status == QUEUED


def test_a_failed_batch_runs_its_jobs_alone_so_only_the_bad_one_fails(
    local_store, reference_pipe, source_image
):
    good, fields = queue_job(local_store, source_image, steps=2, seed=1)
    # A record no API would write (a blank instruction): the pipeline refuses the whole batch.
    bad_params = {**EditForm(instruction="x", steps=2).model_dump(exclude={"seed"}), "instruction": " "}
    bad = new_job("owner", bad_params, seed=2, now=1000.0 + next(_clock), size=(64, 64))
    local_store.insert(bad, {input_key(bad.id): local_store.get_blob(input_key(good.id))}, None, LIMITS)

    assert runner_for(local_store, reference_pipe).run(good.id) == SUCCEEDED
    assert local_store.get(bad.id).status == "failed"
    assert local_store.get(bad.id).error["code"] == "invalid_input"
    assert local_store.get(good.id).batch_size == 1  # run again alone
    expected = reference_edit(reference_pipe, source_image, fields)
    assert_same_image(stored_result(local_store, good.id), expected)


def test_a_runner_with_max_batch_1_runs_one_job_at_a_time(local_store, reference_pipe, source_image):
    jobs = [queue_job(local_store, source_image, steps=2, seed=seed)[0] for seed in range(2)]
    runner = runner_for(local_store, reference_pipe, max_batch=1)
    assert runner.run(jobs[0].id) == SUCCEEDED
    assert local_store.get(jobs[0].id).batch_size == 1 and local_store.get(jobs[1].id).status == QUEUED


def test_the_embedded_worker_batches_the_jobs_waiting_for_it(local_store, reference_pipe, source_image):
    jobs = [queue_job(local_store, source_image, steps=2, seed=seed) for seed in range(3)]
    worker = EmbeddedWorker(runner_for(local_store, reference_pipe), heartbeat_s=60)
    for job, _ in jobs:
        worker.submit(job.id)  # all three wait before the worker thread starts
    worker.start()
    try:
        eventually(lambda: all(local_store.get(job.id).finished for job, _ in jobs), "jobs done")
    finally:
        worker.close()
    for job, fields in jobs:
        record = local_store.get(job.id)
        assert (record.status, record.batch_size, record.attempts) == (SUCCEEDED, 3, 1)
        assert_same_image(
            stored_result(local_store, job.id), reference_edit(reference_pipe, source_image, fields)
        )


# -- a real worker process on Redis ----------------------------------------------------------------
@pytest.fixture(scope="module")
def batch_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, tiny_checkpoint: Path
) -> Iterator[Stack]:
    stack = start_stack(
        tmp_path_factory.mktemp("batching"), tiny_checkpoint, redis_url, REWARDEDIT_MAX_BATCH=str(MAX_BATCH)
    )
    yield stack
    stack.stop()


def keep_worker_busy(stack: Stack, slow_png: bytes) -> str:
    """A minutes-long job, running: what is submitted now waits in the queue."""
    client = stack.client()
    blocker = client.submit_ok(slow_png, steps=150, max_side=512)["id"]
    client.wait(blocker, until=lambda job: job["progress"]["step"] >= 1, timeout_s=120)
    return blocker


def test_jobs_queued_behind_a_busy_worker_run_as_one_batch(
    batch_stack, source_image, slow_png, reference_pipe
):
    client = batch_stack.client()
    blocker = keep_worker_busy(batch_stack, slow_png)
    mirrored = ImageOps.mirror(source_image)
    submissions = [
        (source_image, {"instruction": "make it blue", "steps": 3, "seed": 1}),
        (source_image.resize((128, 64)), {"instruction": "make it blue", "steps": 3, "seed": 9}),
        (mirrored, {"instruction": "add a star", "steps": 3, "seed": 2, "following": 2.0}),
        (source_image, {"instruction": "make it blue", "steps": 4, "seed": 9}),
        (source_image, {"instruction": "make it red", "steps": 3, "seed": 3, "guidance_scale": 4.0}),
        (source_image, {"instruction": "make it blue", "steps": 3, "seed": 9, "reward_guidance_scale": 2.0}),
        (mirrored, {"instruction": "make it blue", "steps": 3, "seed": 4, "quality_text": "noisy"}),
        (source_image, {"instruction": "make it blue", "steps": 3, "seed": 5}),
    ]
    ids = [client.submit_ok(encode(image), **fields)["id"] for image, fields in submissions]
    assert [client.job(job_id)["status"] for job_id in ids] == ["queued"] * len(ids)
    client.http.delete(f"/jobs/{blocker}")

    for job_id in ids:
        assert client.wait(job_id)["status"] == "succeeded", job_id
    store = batch_stack.store()
    records = [store.get(job_id) for job_id in ids]
    batched = [0, 2, 4, 6]  # the four oldest of one size and step count, without reward guidance
    assert [record.batch_size for record in records] == [
        MAX_BATCH if index in batched else 1 for index in range(len(ids))
    ]
    assert records[0].batch == [ids[index] for index in batched[1:]]  # claimed with the first
    assert all(record.attempts == 1 for record in records)  # each ran exactly once
    for job_id, (image, fields) in zip(ids, submissions, strict=True):
        assert_same_image(client.result(job_id), reference_edit(reference_pipe, image, fields))
    store.close()


def test_canceling_one_job_of_a_running_batch_cancels_only_that_job(batch_stack, source_image, slow_png):
    client = batch_stack.client()
    blocker = keep_worker_busy(batch_stack, slow_png)
    medium = encode(source_image.resize((128, 128)))
    ids = [client.submit_ok(medium, steps=150, max_side=128, seed=seed)["id"] for seed in range(3)]
    client.http.delete(f"/jobs/{blocker}")
    client.wait(ids[0], until=lambda job: job["progress"]["step"] >= 2, timeout_s=120)
    assert [client.job(job_id)["status"] for job_id in ids] == ["running"] * 3

    canceled = client.http.delete(f"/jobs/{ids[1]}").json()
    assert canceled["status"] == "canceled"
    done = [client.wait(job_id, timeout_s=180) for job_id in (ids[0], ids[2])]
    assert [job["status"] for job in done] == ["succeeded", "succeeded"]
    stopped = client.job(ids[1])
    assert stopped["status"] == "canceled" and 1 <= stopped["progress"]["step"] < 150
    assert client.http.get(f"/jobs/{ids[1]}/result").status_code == 409
    store = batch_stack.store()
    assert [store.get(job_id).batch_size for job_id in (ids[0], ids[2])] == [3, 3]
    store.close()


def test_a_worker_announces_its_batch_size(batch_stack):
    store = batch_stack.store()
    eventually(lambda: bool(store.workers()), "a worker announcement")
    info = store.workers()[0]
    assert info["max_batch"] == MAX_BATCH and info["optimization"] == {"level": "off"}
    store.close()
