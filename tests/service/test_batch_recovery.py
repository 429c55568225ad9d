"""A worker killed in the middle of a batch: every job of the batch still ends, once, with its result."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from .helpers import Stack, encode, eventually, start_stack

pytestmark = pytest.mark.slow

# A dead worker's lease runs out after 2 s, and its unacknowledged message comes back 20 s after
# delivery: longer than the batch runs before the kill, so no message returns while its worker lives.
RECOVERY_SETTINGS = {
    "REWARDEDIT_MAX_BATCH": "4",
    "REWARDEDIT_VISIBILITY_TIMEOUT_S": "20",
    "REWARDEDIT_LEASE_S": "2",
    "REWARDEDIT_RESTORE_INTERVAL_S": "1",
}


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, tiny_checkpoint: Path) -> Stack:
    stack = start_stack(tmp_path, tiny_checkpoint, redis_url, **RECOVERY_SETTINGS)
    yield stack
    stack.stop()


def broker_counts(stack: Stack) -> tuple[int, int]:
    """Messages waiting in the queue, and delivered but not acknowledged."""
    client = redis.Redis.from_url(stack.settings["REWARDEDIT_BROKER_URL"])
    namespace = stack.settings["REWARDEDIT_NAMESPACE"]
    try:
        return client.llen(f"{namespace}:celery:{namespace}"), client.hlen(f"{namespace}:celery:unacked")
    finally:
        client.close()


def start_batch_behind_a_busy_worker(stack: Stack, slow_png: bytes, source_image) -> tuple[str, list[str]]:
    """Four long compatible jobs queued behind a running one; the blocker's id and theirs."""
    client = stack.client()
    blocker = client.submit_ok(slow_png, steps=150, max_side=512)["id"]
    client.wait(blocker, until=lambda job: job["progress"]["step"] >= 1, timeout_s=120)
    medium = encode(source_image.resize((128, 128)))
    ids = [client.submit_ok(medium, steps=150, max_side=128, seed=seed)["id"] for seed in range(4)]
    return blocker, ids


def wait_for_batch(stack: Stack, ids: list[str]) -> str:
    """Until one worker runs all the jobs together, past their first step; that worker's id."""
    store = stack.store()

    def batched() -> bool:
        records = [store.get(job_id) for job_id in ids]
        return all(r.status == "running" and r.step >= 1 for r in records) and (
            len({r.worker for r in records}) == 1
        )

    eventually(batched, "the jobs running as one batch", timeout_s=120)
    worker = store.get(ids[0]).worker
    store.close()
    return worker


def assert_each_ran_to_one_result(stack: Stack, ids: list[str]) -> None:
    client = stack.client()
    for job_id in ids:
        done = client.wait(job_id, timeout_s=240)
        assert done["status"] == "succeeded", done
        assert client.result(job_id).size == (128, 128)
    eventually(lambda: broker_counts(stack) == (0, 0), "every message acknowledged", timeout_s=60)
    store = stack.store()
    # The killed run and the one that finished: never a third.
    assert [store.get(job_id).attempts for job_id in ids] == [2] * len(ids)
    store.close()


def test_worker_killed_mid_batch_then_restarted_completes_every_job_once(stack, slow_png, source_image):
    blocker, ids = start_batch_behind_a_busy_worker(stack, slow_png, source_image)
    stack.client().http.delete(f"/jobs/{blocker}")
    wait_for_batch(stack, ids)
    stack.workers[-1].kill()

    stack.start_worker()
    assert_each_ran_to_one_result(stack, ids)


def test_batch_mates_whose_messages_another_worker_skipped_are_recovered(stack, slow_png, source_image):
    """A skips the messages of jobs B took into its batch; B dies; the batch's message brings them back."""
    blocker, ids = start_batch_behind_a_busy_worker(stack, slow_png, source_image)
    stack.start_worker()  # B: idle, it takes the first job's message and the other three with it
    batch_worker = wait_for_batch(stack, ids)
    stack.client().http.delete(f"/jobs/{blocker}")  # A is free: it meets the three taken jobs' messages
    eventually(lambda: broker_counts(stack) == (0, 1), "the taken jobs' messages acknowledged unrun")
    store = stack.store()
    assert store.get(ids[0]).worker == batch_worker and store.get(ids[0]).status == "running"
    store.close()

    stack.workers[1].kill()  # B, mid-batch
    assert_each_ran_to_one_result(stack, ids)
