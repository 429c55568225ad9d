"""Admission: the queue limit and each key's share hold under any concurrency, and a job too costly
for a worker is refused with the limit.

The worker of each stack is held at a gate (gate.py) on a first job, so whatever is admitted
stays queued while the test counts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from worker.jobs import cancel, new_job
from worker.local_store import LocalJobStore
from worker.redis_store import RedisJobStore
from worker.settings import Settings
from worker.store import JobStore, LimitReached, Limits, input_key

from .gate import Gate
from .helpers import API_KEYS, JobClient, Stack, encode, error_of, start_stack

QUEUE_LIMIT = 20
SUBMISSIONS = 200
# The keyed stack: two keys share a queue of 6, so each may hold 3 jobs, queued or running.
KEYED_QUEUE_LIMIT, KEY_SHARE = 6, 3
MAX_JOB_COST = 64 * 64 * 10  # a 64 px edit of 10 steps

T = TypeVar("T")


def together(count: int, call: Callable[[int], T]) -> list[T]:
    """call(index) for each index below count, from as many threads released at once."""
    start = threading.Barrier(count)

    def go(index: int) -> T:
        start.wait()
        return call(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(go, range(count)))


def statuses(responses: list[httpx.Response]) -> Counter:
    return Counter(response.status_code for response in responses)


def refusals(responses: list[httpx.Response]) -> set[str]:
    """The error codes of the 429s, each checked for its Retry-After."""
    refused = [response for response in responses if response.status_code == 429]
    assert all(response.headers["retry-after"] for response in refused)
    return {error_of(response)["code"] for response in refused}


@pytest.fixture(scope="module", params=["embedded", "broker"])
def limited_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_checkpoint: Path,
    redis_url: str,
) -> Iterator[tuple[Stack, Gate]]:
    """A stack whose queue takes QUEUE_LIMIT jobs, its jobs held at a gate; no keys."""
    workdir = tmp_path_factory.mktemp(f"limited-{request.param}")
    gate = Gate(workdir / "gate")
    broker = redis_url if request.param == "broker" else None
    stack = start_stack(workdir, tiny_checkpoint, broker, gate, REWARDEDIT_MAX_QUEUED_JOBS=str(QUEUE_LIMIT))
    yield stack, gate
    gate.open()
    stack.stop()


@pytest.fixture(scope="module")
def keyed_stack(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, redis_url: str
) -> Iterator[tuple[Stack, Gate]]:
    """Broker mode with two keys sharing a small queue and a small cost limit; jobs held at a gate."""
    workdir = tmp_path_factory.mktemp("keyed")
    gate = Gate(workdir / "gate")
    stack = start_stack(
        workdir,
        tiny_checkpoint,
        redis_url,
        gate,
        REWARDEDIT_API_KEYS=",".join(API_KEYS),
        REWARDEDIT_MAX_QUEUED_JOBS=str(KEYED_QUEUE_LIMIT),
        REWARDEDIT_MAX_JOB_COST=str(MAX_JOB_COST),
    )
    yield stack, gate
    gate.open()
    stack.stop()


def hold_a_job(client: JobClient, gate: Gate, source_png: bytes) -> str:
    """Keep the worker busy with a job held at the gate, once per stack."""
    job_id = client.submit_ok(source_png, steps=2)["id"]
    gate.wait_held()
    return job_id


@pytest.mark.slow
def test_concurrent_submissions_never_exceed_the_queue_limit(limited_stack, source_png):
    stack, gate = limited_stack
    hold_a_job(stack.client(), gate, source_png)
    clients = [stack.client() for _ in range(SUBMISSIONS)]

    responses = together(SUBMISSIONS, lambda index: clients[index].submit(source_png, steps=2, seed=index))
    assert statuses(responses) == {202: QUEUE_LIMIT, 429: SUBMISSIONS - QUEUE_LIMIT}
    assert refusals(responses) == {"queue_full"}
    assert stack.client().submit(source_png, steps=2).status_code == 429  # one at a time, too
    accepted = [response.json()["id"] for response in responses if response.status_code == 202]
    positions = [clients[0].job(job_id)["queue_position"] for job_id in accepted]
    assert sorted(positions) == list(range(1, QUEUE_LIMIT + 1))


@pytest.mark.slow
def test_one_key_cannot_fill_the_queue_for_everyone(keyed_stack, source_png):
    stack, gate = keyed_stack
    owner = stack.client("key-a")
    hold_a_job(owner, gate, source_png)  # running: it counts toward key-a's share
    owners = [stack.client("key-a") for _ in range(10)]

    responses = together(10, lambda index: owners[index].submit(source_png, steps=2, seed=index))
    assert statuses(responses) == {202: KEY_SHARE - 1, 429: 10 - (KEY_SHARE - 1)}
    assert refusals(responses) == {"too_many_jobs"}
    other = stack.client("key-b")
    for seed in range(KEY_SHARE):
        other.submit_ok(source_png, steps=2, seed=seed)  # the other key still gets its share
    assert error_of(other.submit(source_png, steps=2))["code"] == "too_many_jobs"

    first = next(response.json()["id"] for response in responses if response.status_code == 202)
    assert owner.http.delete(f"/jobs/{first}").status_code == 200  # a canceled job frees its place
    assert owner.submit(source_png, steps=2).status_code == 202


def test_a_job_over_the_cost_limit_is_refused_with_the_limit(keyed_stack, source_image):
    stack, _ = keyed_stack
    client = stack.client("key-b")
    big = encode(source_image.resize((128, 128)))
    response = client.submit(big, steps=3, max_side=128)  # 128 x 128 x 3 > 64 x 64 x 10
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "job_too_large" and str(MAX_JOB_COST) in error["message"]
    response = client.submit(big, steps=11, max_side=64)  # edited at 64 px: 11 steps are one too many
    assert response.status_code == 422 and error_of(response)["code"] == "job_too_large"


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[JobStore]:
    if request.param == "local":
        store = LocalJobStore(tmp_path / "blobs", ttl_s=3600)
    else:
        store = RedisJobStore(redis_url, f"test-{uuid.uuid4().hex[:8]}", ttl_s=3600)
    yield store
    store.close()


PARAMS = {"instruction": "x", "steps": 2}
RACERS = 60  # threads inserting at once: within a Redis client's connection pool (100)


def test_the_stores_admit_atomically(store):
    """The check and the insert are one step: racing inserts never pass a limit."""
    limits = Limits(queued=QUEUE_LIMIT, per_owner=None)

    def insert(index: int) -> bool:
        job = new_job("owner", PARAMS, index, time.time())
        try:
            store.insert(job, {input_key(job.id): b"png"}, f"key-{index}", limits)
        except LimitReached:
            return False
        return True

    stored = together(RACERS, insert)
    assert stored.count(True) == QUEUE_LIMIT and store.queue_length() == QUEUE_LIMIT
    # A retry of an admitted request gets its job back, full queue or not.
    first = store.queued(1)[0]
    again = new_job("owner", PARAMS, first.seed, time.time())
    assert store.insert(again, {}, f"key-{first.seed}", limits) == first


def test_the_stores_count_each_owners_unfinished_jobs(store):
    limits = Limits(queued=1000, per_owner=2)
    jobs = [new_job("someone", PARAMS, seed, time.time()) for seed in range(3)]
    for job in jobs[:2]:
        store.insert(job, {}, None, limits)
    with pytest.raises(LimitReached) as refused:
        store.insert(jobs[2], {}, None, limits)
    assert (refused.value.limit, refused.value.value) == ("per_owner", 2)
    store.insert(new_job("another", PARAMS, 0, time.time()), {}, None, limits)  # others are not held back
    store.update(jobs[0].id, lambda job: cancel(job, time.time()))  # a finished job no longer counts
    assert store.insert(jobs[2], {}, None, limits) == jobs[2]


def test_each_key_gets_a_fair_share_unless_told_otherwise():
    assert Settings(max_queued_jobs=100).per_key_limit is None  # no keys: one owner, the queue limit
    assert Settings(max_queued_jobs=100, api_keys=["a", "b", "c"]).per_key_limit == 34
    assert Settings(max_queued_jobs=100, api_keys=["a"], max_jobs_per_key=5).per_key_limit == 5
