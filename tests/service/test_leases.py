"""Leases, the reaper and stops inside a step, in one process on the embedded mode's store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model import EditCanceled, RewardEditPipeline
from worker import interrupt
from worker.backend import dispatcher
from worker.interrupt import ChunkedScores, MidStepStop
from worker.jobs import CANCELED, FAILED, QUEUED, RUNNING, JobRecord, cancel, claim, new_job, renew
from worker.leases import KEEP_S, LeaseKeeper
from worker.local_store import LocalJobStore
from worker.model_source import ModelInfo
from worker.reaper import WORKER_LOST, Reaper
from worker.runner import EditRunner
from worker.store import Limits, input_key, result_key

from .helpers import eventually
from .test_batching import queue_job

LIMITS = Limits(queued=100, per_owner=None)
PARAMS = {"instruction": "x", "steps": 3}
SETTLE_S = 0.3


class ManualClock:
    """The reaper's clock, moved by the test: a settled second look without waiting on real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalJobStore]:
    store = LocalJobStore(tmp_path / "blobs", ttl_s=3600)
    yield store
    store.close()


def running_job(store: LocalJobStore, worker: str, lease_s: float) -> JobRecord:
    """A job `worker` claimed just now, with a lease of lease_s (negative: ended that long ago)."""
    job = new_job("owner", PARAMS, seed=1, now=time.time())
    store.insert(job, {}, None, LIMITS)
    store.mark_dispatched(job.id)
    return store.update(job.id, lambda j: claim(j, worker, time.time(), lease_s))


def test_the_keeper_renews_held_leases_and_notes_the_jobs_lost(store):
    kept, canceled = running_job(store, "w1", 1.0), running_job(store, "w1", 1.0)
    with LeaseKeeper(store, "w1", 1.0, [kept.id, canceled.id]) as keeper:
        store.update(canceled.id, lambda j: cancel(j, time.time()))
        eventually(lambda: keeper.lost(canceled.id), "the canceled job noted lost", 10)
        # Long after its first lease ran out, with no step taken, the job is still leased.
        later = time.time() + 2.0
        eventually(lambda: time.time() > later, "two leases' time", 10)
        assert store.get(kept.id).lease_until > time.time() and not keeper.lost(kept.id)
    assert store.get(canceled.id).status == CANCELED


def test_the_reaper_requeues_a_job_only_after_a_settled_second_look(store):
    sent: list[str] = []
    clock = ManualClock()
    reaper = Reaper(store, dispatcher(store, sent.append), SETTLE_S, max_attempts=3, clock=clock)
    dead = running_job(store, "dead", -1.0)
    live = running_job(store, "live", -1.0)

    reaper.sweep()  # first look: both leases have ended
    store.update(live.id, lambda j: renew(j, "live", time.time(), 60))  # its worker was only slow
    clock.advance(SETTLE_S)
    reaper.sweep()
    assert sent == [dead.id] and store.undispatched(10) == []
    requeued = store.get(dead.id)
    assert (requeued.status, requeued.worker, requeued.attempts) == (QUEUED, None, 1)
    assert store.get(live.id).status == RUNNING
    assert store.queue_position(dead.id) == 1


def test_the_reaper_gives_a_job_up_after_max_attempts(store):
    sent: list[str] = []
    reaper = Reaper(store, sent.append, settle_s=0, max_attempts=1)
    job = running_job(store, "dead", -1.0)
    reaper.sweep()
    failed = store.get(job.id)
    assert failed.status == FAILED and failed.error["code"] == WORKER_LOST and sent == []
    assert store.get_blob(input_key(job.id)) is None


def test_a_job_whose_message_was_never_sent_is_sent_by_the_reaper(store):
    def broker_down(job_id: str) -> None:
        raise ConnectionError("the broker is down")

    job = new_job("owner", PARAMS, seed=1, now=time.time())
    store.insert(job, {}, None, LIMITS)
    with pytest.raises(ConnectionError):
        dispatcher(store, broker_down)(job.id)
    sent: list[str] = []
    clock = ManualClock()
    reaper = Reaper(store, dispatcher(store, sent.append), SETTLE_S, max_attempts=3, clock=clock)
    reaper.sweep()
    assert sent == []  # the sender may just be slow: a second look first
    clock.advance(SETTLE_S)
    reaper.sweep()
    assert sent == [job.id] and store.undispatched(10) == []


def test_a_canceled_job_stops_inside_the_step_it_is_on(store, tiny_checkpoint, source_image):
    pipeline = RewardEditPipeline.from_pretrained(tiny_checkpoint)  # its own: hooks are added to it
    runner = EditRunner(
        store, pipeline, ModelInfo(Path("tiny"), "tiny"), 60, None, {}, mid_step=MidStepStop(pipeline)
    )
    job, _ = queue_job(store, source_image, steps=3)
    forwards = 0

    def cancel_as_step_2_begins(module, args) -> None:
        nonlocal forwards
        forwards += 1
        if forwards == 2:
            store.update(job.id, lambda j: cancel(j, time.time()))
            eventually(lambda: runner.keeper.lost(job.id), "the keeper noticing", 10 * KEEP_S + 10)

    pipeline.components.unet.conv_in.register_forward_pre_hook(cancel_as_step_2_begins)
    assert runner.run(job.id) == CANCELED
    stopped = store.get(job.id)
    assert stopped.status == CANCELED and stopped.step == 1  # inside step 2, not after it
    assert store.get_blob(result_key(job.id)) is None


def test_hooks_that_never_stop_change_no_pixel(tiny_checkpoint, source_image, monkeypatch):
    pipeline = RewardEditPipeline.from_pretrained(tiny_checkpoint)

    def edit() -> np.ndarray:
        generator = torch.Generator().manual_seed(0)
        image = pipeline(source_image, "make it blue", num_inference_steps=2, generator=generator).images[0]
        return np.asarray(image, dtype=np.int16)

    plain = edit()
    stop = MidStepStop(pipeline)
    assert len(stop.blocks) > 10  # resnets, attention and feed-forward blocks of the U-Net and VAE
    monkeypatch.setattr(interrupt, "MAX_SCORES", 256)  # so that this small edit's attention is chunked
    checks = 0

    def never() -> bool:
        nonlocal checks
        checks += 1
        return False

    with stop.arm(never, 2):
        armed = edit()
    # Attention run in query chunks can round differently in the last float bit on some CPUs'
    # kernels (AMD EPYC: one channel of one pixel moves by one level); a hook that changed what
    # is computed would move far more.
    assert np.abs(armed - plain).max() <= 1 and (armed != plain).mean() < 0.001
    assert checks > 2 * len(stop.blocks)  # more checks than blocks: inside attention too


def test_a_large_attention_runs_in_checked_chunks_with_the_same_result(monkeypatch):
    monkeypatch.setattr(interrupt, "MAX_SCORES", 256)
    query, key = torch.randn(1, 2, 40, 8), torch.randn(1, 2, 30, 8)  # 1200 pairs: chunks of 8 queries
    checks: list[int] = []
    with ChunkedScores(lambda: checks.append(len(checks))):
        chunked = F.scaled_dot_product_attention(query, key, key)
    assert torch.equal(chunked, F.scaled_dot_product_attention(query, key, key)) and len(checks) == 5

    def stop_at_the_third() -> None:
        checks.append(0)
        if len(checks) == 8:
            raise EditCanceled(0, 1)

    with pytest.raises(EditCanceled), ChunkedScores(stop_at_the_third):
        F.scaled_dot_product_attention(query, key, key)
