"""Helpers of the service tests: service stacks, an HTTP client for the job API, the reference edit."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import torch
from PIL import Image

from api.local_stack import RedisServer, Service, Worker
from model import RewardEditPipeline, Rewards
from worker.redis_store import RedisJobStore

from .gate import Gate, launch

FINAL = ("succeeded", "failed", "canceled")
# Threads of torch in the service processes and in the reference edit: pixels depend on the count.
TORCH_THREADS = 1
API_KEYS = ("key-a", "key-b")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
BASE_SETTINGS = {"REWARDEDIT_TORCH_THREADS": str(TORCH_THREADS)}
# Most stacks announce their workers often, so /readyz follows workers closely; tests of the
# timing itself (recovery) keep every timing setting at its default.
FAST_HEARTBEAT = {"REWARDEDIT_HEARTBEAT_S": "0.5"}


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Poll until condition() holds, failing after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.05)


def encode(image: Image.Image, format: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def error_of(response: httpx.Response) -> dict[str, str]:
    """The `{"code", "message"}` of an error response, asserting the shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body["error"]


class JobClient:
    """A client of one service, optionally with an API key."""

    def __init__(self, url: str, key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=60)

    def submit(
        self,
        image: bytes | None,
        headers: dict[str, str] | None = None,
        filename: str = "source.png",
        content_type: str = "image/png",
        **fields: Any,
    ) -> httpx.Response:
        data = {"instruction": "make it blue", **{name: str(value) for name, value in fields.items()}}
        files = {"image": (filename, image, content_type)} if image is not None else None
        if files is None:  # still a multipart body, without the image
            files = {name: (None, value) for name, value in data.items()}
            data = None
        return self.http.post("/edit", data=data, files=files, headers=headers or {})

    def submit_ok(self, image: bytes, **fields: Any) -> dict[str, Any]:
        response = self.submit(image, **fields)
        assert response.status_code == 202, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(
        self,
        job_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda job: job["status"] in FINAL,
        timeout_s: float = 90,
    ) -> dict[str, Any]:
        """Poll the job until `until` holds; the API may answer 503 meanwhile (Redis restarting)."""
        deadline = time.monotonic() + timeout_s
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                response = self.http.get(f"/jobs/{job_id}")
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code != 503:
                assert response.status_code == 200, response.text
                job = response.json()
                if until(job):
                    return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not get there within {timeout_s} s; last seen: {job}")

    def result(self, job_id: str) -> Image.Image:
        response = self.http.get(f"/jobs/{job_id}/result")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "PNG"
        return image

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The job JSON of every server-sent event, until the stream ends."""
        with self.http.stream("GET", f"/jobs/{job_id}/events") as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    yield json.loads(line.removeprefix("data: "))

    def close(self) -> None:
        self.http.close()


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def reference_edit(pipe: RewardEditPipeline, image: Image.Image, fields: dict[str, Any]) -> Image.Image:
    """What the pipeline gives directly for the fields of a POST /edit (unset: the checkpoint's defaults)."""
    reward_names = {field.name for field in dataclasses.fields(Rewards)}
    with torch_threads(TORCH_THREADS):
        return pipe(
            image=image,
            instruction=fields["instruction"],
            rewards=Rewards(**{name: value for name, value in fields.items() if name in reward_names}),
            num_inference_steps=fields.get("steps"),
            guidance_scale=fields.get("guidance_scale"),
            image_guidance_scale=fields.get("image_guidance_scale"),
            reward_guidance_scale=fields.get("reward_guidance_scale", 1.0),
            generator=torch.Generator().manual_seed(fields["seed"]),
            max_side=fields.get("max_side", 512),
            scheduler=fields.get("scheduler"),
        ).images[0]


@dataclass
class Stack:
    """A running service (and its workers and Redis, in broker mode) with clients for the tests."""

    workdir: Path
    settings: dict[str, str]
    model: Path | None
    service: Service | None = None
    workers: list[Worker] = field(default_factory=list)
    redis: RedisServer | None = None
    clients: list[JobClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def keys(self) -> list[str]:
        keys = self.settings.get("REWARDEDIT_API_KEYS", "")
        return keys.split(",") if keys else []

    def client(self, key: str | None = None) -> JobClient:
        """A client with the given key (default: the first configured key, if any)."""
        client = JobClient(self.url, key if key is not None else next(iter(self.keys), None))
        self.clients.append(client)
        return client

    def start_worker(self, gate: Gate | None = None) -> Worker:
        """Another worker; with a gate, its edits wait after their first step until the gate opens."""
        settings, module = launch(self.settings, gate)
        worker = Worker(self.workdir, settings, self.model, f"worker-{len(self.workers)}", module)
        self.workers.append(worker)
        return worker

    def worker_running(self, job_id: str) -> Worker:
        """The worker process that holds the job (a worker's id names its process)."""
        store = self.store()
        holder = store.get(job_id).worker
        store.close()
        [worker] = [w for w in self.workers if f"-{w.process.popen.pid}-" in holder]
        return worker

    def store(self) -> RedisJobStore:
        """The job records as the workers see them (attempt counts are not part of the job JSON)."""
        return RedisJobStore(
            self.settings["REWARDEDIT_BROKER_URL"], self.settings["REWARDEDIT_NAMESPACE"], 60
        )

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.service is not None:
            self.service.stop()
        for worker in self.workers:
            worker.stop()


def start_stack(
    workdir: Path,
    model: Path | None,
    redis_url: str | None = None,
    gate: Gate | None = None,
    default_timing: bool = False,
    **settings: str,
) -> Stack:
    """API (+ one worker when redis_url is given), ready to take jobs.

    With a gate, the process that runs the jobs (the worker, or the embedded service) holds each
    edit after its first step until the gate opens. default_timing keeps the heartbeat at its
    default too.
    """
    timing = {} if default_timing else FAST_HEARTBEAT
    settings = {**BASE_SETTINGS, **timing, "REWARDEDIT_DATA_DIR": str(workdir / "data"), **settings}
    if redis_url is not None:
        settings["REWARDEDIT_BROKER_URL"] = redis_url
        settings["REWARDEDIT_NAMESPACE"] = f"test-{uuid.uuid4().hex[:8]}"
    stack = Stack(workdir, settings, model)
    try:
        if redis_url is not None:
            stack.start_worker(gate)
        service_settings, module = launch(settings, gate if redis_url is None else None)
        stack.service = Service(workdir, service_settings, model, module)
        stack.service.wait_ready()
    except BaseException:
        stack.stop()
        raise
    return stack
