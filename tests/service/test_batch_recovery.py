"""A worker killed in the middle of a batch: every job of the batch still ends, once, with its result.

Timing settings stay at their defaults; gates (gate.py) hold each batch after its first step, so
the kill always lands mid-batch, however busy the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from .gate import Gate
from .helpers import Stack, eventually, start_stack

pytestmark = pytest.mark.slow

MAX_BATCH = 4


@pytest.fixture
def gates(tmp_path: Path) -> list[Gate]:
    """One gate for each worker a test starts."""
    return [Gate(tmp_path / f"gate-{index}") for index in range(2)]


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, tiny_checkpoint: Path, gates: list[Gate]) -> Iterator[Stack]:
    stack = start_stack(
        tmp_path, tiny_checkpoint, redis_url, gate=gates[0], default_timing=True, REWARDEDIT_MAX_BATCH="4"
    )
    yield stack
    for gate in gates:
        gate.open()
    stack.stop()


def broker_counts(stack: Stack) -> tuple[int, int]:
    """Messages waiting in the queue, and delivered but not acknowledged."""
    client = redis.Redis.from_url(stack.settings["REWARDEDIT_BROKER_URL"])
    namespace = stack.settings["REWARDEDIT_NAMESPACE"]
    try:
        return client.llen(f"{namespace}:celery:{namespace}"), client.hlen(f"{namespace}:celery:unacked")
    finally:
        client.close()


def queue_behind_a_held_job(stack: Stack, gate: Gate, source_png: bytes) -> tuple[str, list[str]]:
    """Four compatible jobs queued behind one the first worker holds; the blocker's id and theirs."""
    client = stack.client()
    blocker = client.submit_ok(source_png, steps=3, seed=9)["id"]
    gate.wait_held()
    ids = [client.submit_ok(source_png, steps=3, seed=seed)["id"] for seed in range(MAX_BATCH)]
    assert [client.job(job_id)["status"] for job_id in ids] == ["queued"] * MAX_BATCH
    return blocker, ids


def assert_batch_held_by(stack: Stack, ids: list[str], worker: int) -> None:
    store = stack.store()
    records = [store.get(job_id) for job_id in ids]
    assert [(r.status, r.step) for r in records] == [("running", 1)] * MAX_BATCH
    assert {stack.worker_running(job_id) for job_id in ids} == {stack.workers[worker]}
    store.close()


def assert_each_ran_to_one_result(stack: Stack, ids: list[str]) -> None:
    client = stack.client()
    for job_id in ids:
        done = client.wait(job_id, timeout_s=240)
        assert done["status"] == "succeeded", done
        assert client.result(job_id).size == (64, 64)
    # The killed run and the one that finished: never a third.
    assert [client.job(job_id)["attempts"] for job_id in ids] == [2] * len(ids)


def test_worker_killed_mid_batch_then_restarted_completes_every_job_once(stack, gates, source_png):
    blocker, ids = queue_behind_a_held_job(stack, gates[0], source_png)
    stack.client().http.delete(f"/jobs/{blocker}")
    gates[0].release(1)  # the worker stops the canceled blocker and takes the four as one batch
    gates[0].wait_held(2)
    assert_batch_held_by(stack, ids, 0)
    stack.workers[0].kill()

    stack.start_worker()
    assert_each_ran_to_one_result(stack, ids)


def test_batch_mates_whose_messages_another_worker_skipped_are_recovered(stack, gates, source_png):
    """A skips the messages of jobs B took into its batch; B dies mid-batch; all four run again."""
    blocker, ids = queue_behind_a_held_job(stack, gates[0], source_png)
    stack.start_worker(gates[1])  # B: idle, it takes the first job's message and the other three with it
    gates[1].wait_held()
    assert_batch_held_by(stack, ids, 1)
    stack.client().http.delete(f"/jobs/{blocker}")
    gates[0].open()  # A is free: it meets the three taken jobs' messages
    eventually(lambda: broker_counts(stack) == (0, 1), "the taken jobs' messages acknowledged unrun")
    assert_batch_held_by(stack, ids, 1)

    stack.workers[1].kill()  # B, mid-batch
    assert_each_ran_to_one_result(stack, ids)
