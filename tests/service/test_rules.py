"""The pieces with rules of their own: settings, the job state machine, Prefer, failure codes."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from api.watch import preferred_wait
from model import InvalidInputError, NonFiniteImageError
from worker.jobs import CANCELED, QUEUED, RUNNING, SUCCEEDED, advance, cancel, claim, finish, new_job
from worker.local_store import LocalJobStore
from worker.runner import describe_failure
from worker.settings import Settings
from worker.store import input_key

PARAMS = {"instruction": "x", "steps": 10}


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


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("wait=5", 5),
        ("respond-async, wait=10", 10),
        ("WAIT = 7", 7),
        ("wait=600", 60),
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
    assert store.insert(job, {input_key(job.id): b"png"}, "key") == job
    duplicate = new_job("owner", PARAMS, seed=2, now=101.0)
    assert store.insert(duplicate, {input_key(duplicate.id): b"png"}, "key") == job
    assert store.get(duplicate.id) is None and store.get_blob(input_key(duplicate.id)) is None
    assert store.queue_position(job.id) == 1
    assert store.update(job.id, lambda j: None, put={"x": b"1"}) is None and store.get_blob("x") is None
    store.update(job.id, lambda j: cancel(j, now=102.0), delete=[input_key(job.id)])
    assert store.get(job.id).status == CANCELED and store.get_blob(input_key(job.id)) is None
    assert store.queue_position(job.id) is None
