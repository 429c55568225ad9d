"""Failures: a worker killed mid-job, Redis restarted under queued jobs, a model that yields NaN."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import torch
from safetensors.torch import load_file, save_file

from api.local_stack import RedisServer

from .helpers import Stack, encode, eventually, start_stack

pytestmark = pytest.mark.slow

# Short timeouts so recovery happens within the test: a dead worker's job is redelivered after
# 6 s (its 2 s lease long over), and workers look for such jobs every second.
RECOVERY_SETTINGS = {
    "REWARDEDIT_VISIBILITY_TIMEOUT_S": "6",
    "REWARDEDIT_LEASE_S": "2",
    "REWARDEDIT_RESTORE_INTERVAL_S": "1",
}


@pytest.fixture(scope="module")
def recovery_stack(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Iterator[Stack]:
    """A stack of its own, on a private redis-server with append-only persistence."""
    workdir = tmp_path_factory.mktemp("recovery")
    server = RedisServer(workdir / "redis", appendonly=True).start()
    stack = start_stack(workdir, tiny_checkpoint, server.url, **RECOVERY_SETTINGS)
    stack.redis = server
    yield stack
    stack.stop()
    server.stop()


@pytest.fixture
def medium_png(source_image) -> bytes:
    """128 px: 150 steps take a few seconds, long enough to act on a running job."""
    return encode(source_image.resize((128, 128)))


def unacked_messages(stack: Stack) -> int:
    client = redis.Redis.from_url(stack.settings["REWARDEDIT_BROKER_URL"])
    try:
        return client.hlen(f"{stack.settings['REWARDEDIT_NAMESPACE']}:celery:unacked")
    finally:
        client.close()


def test_worker_killed_mid_job_then_restarted_completes_the_job_once(recovery_stack, medium_png):
    client = recovery_stack.client()
    job_id = client.submit_ok(medium_png, steps=150, max_side=128)["id"]
    client.wait(job_id, until=lambda job: job["progress"]["step"] >= 1)
    recovery_stack.workers[-1].kill()
    assert client.job(job_id)["status"] == "running"
    assert unacked_messages(recovery_stack) == 1  # delivered, never acknowledged

    recovery_stack.start_worker()
    done = client.wait(job_id, timeout_s=120)
    assert done["status"] == "succeeded", done
    assert client.result(job_id).size == (128, 128)
    store = recovery_stack.store()
    assert store.get(job_id).attempts == 2  # the killed run and the one that finished
    # Every delivery of its message is acknowledged in the end, and none ran it a third time.
    eventually(lambda: unacked_messages(recovery_stack) == 0, "all messages acknowledged")
    assert store.get(job_id).attempts == 2 and client.job(job_id)["status"] == "succeeded"
    store.close()


def test_jobs_queued_across_a_redis_restart_complete(recovery_stack, medium_png, source_png):
    client = recovery_stack.client()
    running = client.submit_ok(medium_png, steps=150, max_side=128)["id"]
    client.wait(running, until=lambda job: job["progress"]["step"] >= 1)
    queued = [client.submit_ok(source_png, steps=2, seed=seed)["id"] for seed in range(3)]
    assert [client.job(job_id)["status"] for job_id in queued] == ["queued"] * 3

    recovery_stack.redis.restart()  # SIGTERM: Redis writes its append-only file and exits

    for job_id in [running, *queued]:
        assert client.wait(job_id, timeout_s=120)["status"] == "succeeded", job_id
    # The running job's acknowledgement was lost with the connection: its message comes back
    # after the visibility timeout, and the worker skips it instead of running the job again.
    eventually(lambda: unacked_messages(recovery_stack) == 0, "all messages acknowledged")
    store = recovery_stack.store()
    assert [store.get(job_id).attempts for job_id in [running, *queued]] == [1, 1, 1, 1]
    store.close()


@pytest.fixture
def nan_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """The tiny checkpoint with a NaN in the U-Net's output bias: every edit decodes to NaN."""
    folder = shutil.copytree(tiny_checkpoint, tmp_path / "nan")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors["conv_out.bias"] = torch.full_like(tensors["conv_out.bias"], float("nan"))
    save_file(tensors, weights)
    return folder


def test_a_nan_image_fails_the_job_and_the_worker_keeps_serving(nan_checkpoint, tmp_path, source_png):
    stack = start_stack(tmp_path, nan_checkpoint)
    try:
        client = stack.client()
        for _ in range(2):
            job = client.submit_ok(source_png, steps=2)
            failed = client.wait(job["id"])
            assert failed["status"] == "failed"
            assert failed["error"]["code"] == "non_finite_image"
            assert client.http.get(f"/jobs/{job['id']}/result").status_code == 409
        assert client.http.get("/readyz").status_code == 200
    finally:
        stack.stop()
