"""Jobs: idempotency, ownership, cancellation, and many submissions at once."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from .helpers import encode, error_of


def test_same_idempotency_key_returns_the_same_job(any_stack, source_png):
    client = any_stack.client()
    first = client.submit(source_png, headers={"Idempotency-Key": "retry-1"}, steps=2)
    again = client.submit(source_png, headers={"Idempotency-Key": "retry-1"}, steps=2)
    other = client.submit(source_png, headers={"Idempotency-Key": "retry-2"}, steps=2)
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert other.json()["id"] != first.json()["id"]
    assert client.wait(first.json()["id"])["status"] == "succeeded"
    replay = client.submit(source_png, headers={"Idempotency-Key": "retry-1"}, steps=2)
    assert replay.json()["id"] == first.json()["id"] and replay.json()["status"] == "succeeded"


def test_an_idempotency_key_reused_for_another_request_answers_422(any_stack, source_png, source_image):
    client = any_stack.client()
    key = {"Idempotency-Key": "reused"}
    first = client.submit(source_png, headers=key, steps=2, seed=3)
    assert first.status_code == 202
    for changed in (
        client.submit(source_png, headers=key, steps=2, seed=3, instruction="make it red"),
        client.submit(source_png, headers=key, steps=3, seed=3),
        client.submit(source_png, headers=key, steps=2, seed=4),
        client.submit(encode(source_image.rotate(90)), headers=key, steps=2, seed=3),
    ):
        assert changed.status_code == 422, changed.text
        assert error_of(changed)["code"] == "idempotency_key_reused"
    again = client.submit(source_png, headers=key, steps=2, seed=3)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]


def test_any_prefer_header_is_read_leniently_and_the_job_keeps_its_id(any_stack, source_png):
    client = any_stack.client()
    for prefer, applied in (
        ("wait=" + "9" * 5000, "wait=60"),  # delta-seconds too large to read: the longest we allow
        ('respond-async, wait="3"', "wait=3"),
        ("wait=soon; handling=lenient, return=minimal", None),
    ):
        response = client.submit(source_png, headers={"Prefer": prefer}, steps=2)
        assert response.status_code in (200, 202), response.text
        assert response.headers.get("preference-applied") == applied
        job = client.job(response.json()["id"])
        assert response.headers["location"] == f"/jobs/{job['id']}"
        assert client.wait(job["id"])["status"] == "succeeded"


def test_idempotency_keys_belong_to_their_owner(broker_stack, source_png):
    owner_a, owner_b = broker_stack.client("key-a"), broker_stack.client("key-b")
    job_a = owner_a.submit(source_png, headers={"Idempotency-Key": "shared"}, steps=2).json()
    job_b = owner_b.submit(source_png, headers={"Idempotency-Key": "shared"}, steps=2).json()
    assert job_a["id"] != job_b["id"]
    assert owner_a.wait(job_a["id"])["status"] == owner_b.wait(job_b["id"])["status"] == "succeeded"


def test_another_keys_job_answers_404(broker_stack, source_png):
    owner, stranger = broker_stack.client("key-a"), broker_stack.client("key-b")
    job = owner.submit_ok(source_png, steps=2)
    for method, path in [
        ("GET", f"/jobs/{job['id']}"),
        ("GET", f"/jobs/{job['id']}/result"),
        ("GET", f"/jobs/{job['id']}/events"),
        ("DELETE", f"/jobs/{job['id']}"),
    ]:
        response = stranger.http.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert error_of(response)["code"] == "not_found"
    assert owner.wait(job["id"])["status"] == "succeeded"  # the stranger's DELETE did nothing


def test_requests_without_a_valid_key_answer_401(broker_stack, source_png):
    for client in (broker_stack.client(key=""), broker_stack.client(key="not-a-key")):
        for response in (client.submit(source_png), client.http.get(f"/jobs/{uuid.uuid4().hex}")):
            assert response.status_code == 401, response.text
            assert error_of(response)["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
        assert client.http.get("/healthz").status_code == 200


def test_unknown_job_answers_404(any_stack):
    client = any_stack.client()
    for job_id in (uuid.uuid4().hex, "../../etc/passwd", "x" * 500):
        for method, suffix in [("GET", ""), ("GET", "/result"), ("GET", "/events"), ("DELETE", "")]:
            response = client.http.request(method, f"/jobs/{job_id}{suffix}")
            assert response.status_code == 404, (job_id, suffix, response.text)
            assert error_of(response)["code"] == "not_found"


def test_cancel_a_queued_job_and_a_running_one(any_stack, source_png, slow_png):
    client = any_stack.client()
    running = client.submit_ok(slow_png, steps=150, max_side=512)["id"]
    client.wait(running, until=lambda job: job["progress"]["step"] >= 1, timeout_s=120)
    queued = client.submit_ok(source_png, steps=2)["id"]
    assert client.job(queued)["queue_position"] == 1
    response = client.http.get(f"/jobs/{queued}/result")
    assert response.status_code == 409 and error_of(response)["code"] == "job_not_finished"

    for _ in range(2):  # canceling twice is fine
        response = client.http.delete(f"/jobs/{queued}")
        assert response.status_code == 200 and response.json()["status"] == "canceled"
    response = client.http.delete(f"/jobs/{running}")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    step_at_cancel = response.json()["progress"]["step"]

    later = client.submit_ok(source_png, steps=2)["id"]  # behind the canceled queued job
    assert client.wait(later)["status"] == "succeeded"  # so the worker has let the canceled one go
    never_ran = client.job(queued)
    assert never_ran["status"] == "canceled" and never_ran["started_at"] is None
    # The worker stopped inside the step it was on, or right after it, and recorded where.
    stopped = client.job(running)
    assert stopped["status"] == "canceled" and stopped["progress"]["total"] == 150
    assert stopped["progress"]["step"] in (step_at_cancel, step_at_cancel + 1)
    response = client.http.get(f"/jobs/{running}/result")
    assert response.status_code == 409 and error_of(response)["code"] == "job_has_no_result"
    response = client.http.delete(f"/jobs/{later}")
    assert response.status_code == 409 and error_of(response)["code"] == "job_finished"


@pytest.mark.slow
def test_twenty_concurrent_submissions_all_finish_once(broker_stack, source_png):
    count = 20
    clients = [broker_stack.client() for _ in range(count)]
    start = threading.Barrier(count)

    def submit(index: int) -> str:
        start.wait()
        return clients[index].submit_ok(source_png, steps=2, seed=index)["id"]

    with ThreadPoolExecutor(count) as pool:
        ids = list(pool.map(submit, range(count)))
    assert len(set(ids)) == count
    assert [clients[0].wait(job_id, timeout_s=120)["status"] for job_id in ids] == ["succeeded"] * count
    store = broker_stack.store()
    assert [store.get(job_id).attempts for job_id in ids] == [1] * count
    store.close()
    sizes = {clients[0].result(job_id).size for job_id in ids}
    assert sizes == {(64, 64)}
