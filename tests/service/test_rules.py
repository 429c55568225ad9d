"""The pieces with rules of their own: settings, the job state machine, Prefer, failure codes."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from api.watch import preferred_wait
from model import InvalidInputError, NonFiniteImageError
from worker.jobs import (
    CANCELED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    advance,
    cancel,
    claim,
    finish,
    give_up,
    new_job,
    renew,
    requeue,
)
from worker.leases import KEEP_S
from worker.local_store import LocalJobStore
from worker.runner import describe_failure
from worker.settings import Settings
from worker.store import Limits, input_key

PARAMS = {"instruction": "x", "steps": 10}
LIMITS = Limits(queued=10, per_owner=None)


def test_settings_read_the_broker_url_from_either_variable(monkeypatch):
    monkeypatch.delenv("REWARDEDIT_BROKER_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert Settings().embedded
    monkeypatch.setenv("REDIS_URL", "redis://one")
    assert Settings().broker_url == "redis://one"
    monkeypatch.setenv("REWARDEDIT_BROKER_URL", "redis://two")
    assert Settings().broker_url == "redis://two" and not Settings().embedded


def test_settings_split_api_keys_and_keep_the_lease_inside_the_visibility_timeout(monkeypatch):
    monkeypatch.setenv("REWARDEDIT_API_KEYS", " a, b ,,c")
    assert Settings().api_keys == ["a", "b", "c"]
    with pytest.raises(ValidationError, match="lease_s"):
        Settings(lease_s=10, visibility_timeout_s=10)


def test_the_default_timing_finds_a_dead_worker_within_the_promised_bound():
    """README's "Failure modes": the lease, a settled second look, and a heartbeat's sweep: < 60 s."""
    settings = Settings()
    assert settings.lease_s + settings.lease_s / 3 + 2 * settings.heartbeat_s < 60
    assert settings.lease_s / 3 >= 10 * KEEP_S  # a live worker renews many times before it looks dead


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("wait=5", 5),
        ("respond-async, wait=10", 10),
        ("WAIT = 7", 7),
        ("wait=600", 60),
        ("wait=" + "9" * 5000, 60),
        ("wait=" + "0" * 5000 + "5", 5),
        ('respond-async, wait="12"', 12),
        ("await=5", None),
        ("wait=soon", None),
    ],
)
def test_prefer_wait(header, seconds):
    assert preferred_wait(header) == seconds


def test_a_job_runs_once_per_claim_and_a_live_lease_blocks_duplicates():
    job = new_job("owner", PARAMS, seed=1, now=100.0)
    running = claim(job, "w1", now=101.0, lease_s=5)
    assert running.status == RUNNING and running.attempts == 1
    assert claim(running, "w2", now=102.0, lease_s=5) is None  # w1 is alive: a duplicate delivery
    assert advance(running, "w2", 1, 10, now=102.0, lease_s=5) is None
    taken_over = claim(running, "w2", now=107.0, lease_s=5)  # w1's lease ran out: it died
    assert taken_over.worker == "w2" and taken_over.attempts == 2
    assert finish(taken_over, "w1", SUCCEEDED, now=108.0) is None  # the dead worker cannot finish it
    done = finish(taken_over, "w2", SUCCEEDED, now=108.0)
    assert done.status == SUCCEEDED and done.step == done.total
    assert claim(done, "w3", now=200.0, lease_s=5) is None and cancel(done, now=200.0) is None


def test_an_abandoned_job_is_requeued_or_given_up_only_while_its_lease_is_the_one_seen():
    running = claim(new_job("owner", PARAMS, seed=1, now=100.0), "w1", now=101.0, lease_s=5)
    assert renew(running, "w2", now=102.0, lease_s=5) is None  # not w2's
    renewed = renew(running, "w1", now=103.0, lease_s=5)
    assert renewed.lease_until == 108.0
    assert requeue(renewed, running.lease_until) is None  # renewed since the reaper looked
    queued = requeue(renewed, renewed.lease_until)
    assert (queued.status, queued.worker, queued.attempts, queued.started_at) == (QUEUED, None, 1, None)
    again = claim(queued, "w2", now=120.0, lease_s=5)
    assert again.attempts == 2 and again.worker == "w2"
    error = {"code": "worker_lost", "message": "lost"}
    assert give_up(again, again.lease_until + 1, now=130.0, error=error) is None
    failed = give_up(again, again.lease_until, now=130.0, error=error)
    assert (failed.status, failed.error, failed.attempts) == (FAILED, error, 2)
    assert requeue(cancel(again, now=121.0), again.lease_until) is None  # canceled meanwhile


def test_cancel_stops_queued_and_running_jobs():
    job = new_job("owner", PARAMS, seed=1, now=100.0)
    assert job.status == QUEUED and cancel(job, now=101.0).status == CANCELED
    running = claim(job, "w1", now=101.0, lease_s=5)
    canceled = cancel(running, now=102.0)
    assert advance(canceled, "w1", 2, 10, now=103.0, lease_s=5) is None  # the worker stops
    assert claim(canceled, "w2", now=200.0, lease_s=5) is None


def test_failure_codes():
    assert describe_failure(torch.cuda.OutOfMemoryError("CUDA out of memory"))["code"] == "out_of_memory"
    assert describe_failure(NonFiniteImageError("NaN"))["code"] == "non_finite_image"
    assert describe_failure(InvalidInputError("bad"))["code"] == "invalid_input"
    assert describe_failure(KeyError("x"))["code"] == "internal_error"


def test_local_store_applies_changes_and_blobs_atomically(tmp_path):
    store = LocalJobStore(tmp_path, ttl_s=3600)
    job = new_job("owner", PARAMS, seed=1, now=100.0)
    assert store.insert(job, {input_key(job.id): b"png"}, "key", LIMITS) == job
    duplicate = new_job("owner", PARAMS, seed=2, now=101.0)
    assert store.insert(duplicate, {input_key(duplicate.id): b"png"}, "key", LIMITS) == job
    assert store.get(duplicate.id) is None and store.get_blob(input_key(duplicate.id)) is None
    assert store.queue_position(job.id) == 1
    assert store.update(job.id, lambda j: None, put={"x": b"1"}) is None and store.get_blob("x") is None
    store.update(job.id, lambda j: cancel(j, now=102.0), delete=[input_key(job.id)])
    assert store.get(job.id).status == CANCELED and store.get_blob(input_key(job.id)) is None
    assert store.queue_position(job.id) is None
