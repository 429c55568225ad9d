"""Failures, with every timing setting at its default: workers killed mid-job, Redis restarted or
down under running jobs, a model that yields NaN.

The jobs a test acts on are held by a gate (gate.py) at a state the test chose, never raced: a
job is killed, or Redis stopped, while its worker waits at the gate after the job's first step.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import torch
from safetensors.torch import load_file, save_file

from api.local_stack import RedisServer
from worker.settings import Settings

from .gate import Gate
from .helpers import Stack, error_of, eventually, start_stack

pytestmark = pytest.mark.slow

DEFAULTS = Settings()
# What the README's "Failure modes" promises with the defaults: a job whose worker died runs again
# and finishes within this many seconds of the failure, plus its own run time.
RECOVERY_BOUND_S = 60


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server with append-only persistence, for the tests that stop it."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path / "gate")


@pytest.fixture
def stack(tmp_path: Path, tiny_checkpoint: Path, redis_server: RedisServer, gate: Gate) -> Iterator[Stack]:
    """The API and one gated worker, at the default timing."""
    stack = start_stack(tmp_path, tiny_checkpoint, redis_server.url, gate=gate, default_timing=True)
    stack.redis = redis_server
    yield stack
    gate.open()
    stack.stop()
    if not redis_server.process.alive:  # a test that failed with Redis stopped leaves it so
        redis_server.start()


def seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def run_time(job: dict[str, Any]) -> float:
    """How long the job's last run took."""
    return seconds(job["finished_at"]) - seconds(job["started_at"])


def held_job(stack: Stack, gate: Gate, source_png: bytes) -> str:
    """A job running on the stack's first worker, held there after its first step."""
    client = stack.client()
    job_id = client.submit_ok(source_png, steps=3)["id"]
    gate.wait_held()
    assert client.job(job_id)["status"] == "running"
    return job_id


def start_idle_worker(stack: Stack) -> None:
    """Another worker, not gated; once it has announced itself, it is consuming."""
    stack.start_worker()
    store = stack.store()
    eventually(lambda: len(store.workers()) == len(stack.workers), "the new worker announced", 120)
    store.close()


def broker_counts(stack: Stack) -> tuple[int, int]:
    """Messages waiting in the queue, and delivered but not acknowledged."""
    client = redis.Redis.from_url(stack.settings["REWARDEDIT_BROKER_URL"])
    namespace = stack.settings["REWARDEDIT_NAMESPACE"]
    try:
        return client.llen(f"{namespace}:celery:{namespace}"), client.hlen(f"{namespace}:celery:unacked")
    finally:
        client.close()


def age_deliveries(stack: Stack, seconds: float) -> None:
    """Make every unacknowledged message look delivered `seconds` earlier, as if that time had passed."""
    client = redis.Redis.from_url(stack.settings["REWARDEDIT_BROKER_URL"])
    index = f"{stack.settings['REWARDEDIT_NAMESPACE']}:celery:unacked_index"
    try:
        for tag, delivered in client.zrange(index, 0, -1, withscores=True):
            client.zadd(index, {tag: delivered - seconds})
    finally:
        client.close()


def wait_for_log(stack: Stack, worker: int, text: str, timeout_s: float = 120) -> None:
    process = stack.workers[worker].process
    eventually(lambda: text in process.log_path.read_text(errors="replace"), repr(text), timeout_s)


def test_a_job_whose_worker_is_killed_runs_again_once_within_a_minute(stack, gate, source_png):
    client = stack.client()
    job_id = held_job(stack, gate, source_png)
    start_idle_worker(stack)

    stack.workers[0].kill()
    killed_at = time.time()
    done = client.wait(job_id, timeout_s=RECOVERY_BOUND_S + 60)
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    assert seconds(done["finished_at"]) - killed_at <= RECOVERY_BOUND_S + run_time(done)
    assert client.result(job_id).size == (64, 64)
    store = stack.store()
    assert stack.worker_running(job_id) is stack.workers[1] and store.get(job_id).attempts == 2
    store.close()


def test_a_healthy_job_held_past_every_timeout_runs_once(stack, gate, source_png):
    """The lease is kept by a live worker, and a message redelivered after the visibility timeout
    (aged here instead of waited for) finds the job held and is dropped."""
    client = stack.client()
    job_id = held_job(stack, gate, source_png)
    held_at = time.time()
    start_idle_worker(stack)  # it would take the job, were it ever handed out again

    age_deliveries(stack, DEFAULTS.visibility_timeout_s + 60)
    # Celery's restore (every RESTORE_INTERVAL_S) puts the message back; the idle worker skips it.
    eventually(lambda: broker_counts(stack) == (0, 0), "the redelivered message dropped", 180)
    # The idle worker's reaper has swept often enough to have requeued a job with a dead lease.
    reaped_by = held_at + DEFAULTS.lease_s * 4 / 3 + 2 * DEFAULTS.heartbeat_s
    eventually(lambda: time.time() > reaped_by, "past the lease and the reaper's settling", 120)
    store = stack.store()
    record = store.get(job_id)
    assert (record.status, record.attempts) == ("running", 1) and record.lease_until > time.time()
    assert stack.worker_running(job_id) is stack.workers[0]

    gate.open()
    done = client.wait(job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 1, done
    assert stack.worker_running(job_id) is stack.workers[0]
    store.close()


def test_a_job_running_through_a_redis_outage_longer_than_its_lease_runs_once(stack, gate, source_png):
    """Its worker is alive: it renews the lease as soon as Redis is back, before any reaper acts."""
    client = stack.client()
    running = held_job(stack, gate, source_png)
    queued = [client.submit_ok(source_png, steps=2, seed=seed)["id"] for seed in range(3)]
    store = stack.store()
    lease_until = store.get(running).lease_until

    stack.redis.stop()
    eventually(lambda: time.time() > lease_until + 1, "the lease past its end, Redis down", 60)
    stack.redis.start()
    eventually(lambda: store.get(running).lease_until > time.time(), "the lease renewed", 30)
    settled = time.time() + DEFAULTS.lease_s / 3 + 2 * DEFAULTS.heartbeat_s
    eventually(lambda: time.time() > settled, "past the reapers' settling", 60)
    assert store.get(running).attempts == 1

    gate.open()
    for job_id in [running, *queued]:
        assert client.wait(job_id, timeout_s=120)["status"] == "succeeded", job_id
    assert [client.job(job_id)["attempts"] for job_id in [running, *queued]] == [1, 1, 1, 1]
    store.close()


def test_a_job_whose_run_ended_in_a_redis_outage_runs_again_once_within_a_minute(stack, gate, source_png):
    client = stack.client()
    job_id = held_job(stack, gate, source_png)

    stack.redis.stop()
    gate.open()  # the worker's next step finds no Redis; it gives the job up after its retries
    wait_for_log(stack, 0, f"job {job_id}: given up, the job store is unreachable")
    stack.redis.start()
    back_at = time.time()
    done = client.wait(job_id, timeout_s=RECOVERY_BOUND_S + 60)
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    assert seconds(done["finished_at"]) - back_at <= RECOVERY_BOUND_S + run_time(done)


def test_with_redis_down_the_api_answers_503_within_seconds(stack, gate, source_png):
    client = stack.client()
    job_id = held_job(stack, gate, source_png)
    stack.redis.stop()
    try:
        for name, call in {
            "GET /jobs/{id}": lambda: client.http.get(f"/jobs/{job_id}"),
            "POST /edit": lambda: client.submit(source_png, steps=2),
        }.items():
            started = time.monotonic()
            response = call()
            took = time.monotonic() - started
            assert response.status_code == 503, (name, response.text)
            assert error_of(response)["code"] == "unavailable" and response.headers["retry-after"], name
            assert took < 5, f"{name} took {took:.1f} s to fail"  # about 1 s; 10-11.5 s before
        health = client.http.get("/healthz")
        assert health.status_code == 200 and health.json()["broker"] == "unreachable"
        assert client.http.get("/readyz").status_code == 503
    finally:
        stack.redis.start()
    assert client.http.get("/healthz").json()["broker"] == "reachable"
    gate.open()
    assert client.wait(job_id)["status"] == "succeeded"


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
