"""`rewardedit bench-service`: load figures for the whole service over loopback HTTP.

Two phases with N concurrent clients. Latency: each client submits its share of M jobs one after
another with `Prefer: wait=60` and times POST -> finished; the job record's started_at/finished_at
give the worker's run time, and the rest is the service's overhead (queueing included, so run
it with --clients 1 for the bare overhead). Submissions: the clients post M jobs without waiting,
which measures how fast the API accepts work, then wait for them all to finish.
"""

from __future__ import annotations

import io
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from .local_stack import RedisServer, Service, Worker

FINAL = ("succeeded", "failed", "canceled")


@dataclass
class BenchConfig:
    url: str | None
    clients: int
    jobs: int
    steps: int
    size: int
    broker: bool
    model: Path | None
    api_key: str | None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100])."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def source_png(size: int) -> bytes:
    gradient = Image.linear_gradient("L").resize((size, size))
    image = Image.merge("RGB", (gradient, gradient.rotate(90), gradient.rotate(180)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


class Client:
    def __init__(self, config: BenchConfig, url: str) -> None:
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=120)
        self.image = source_png(config.size)
        self.fields = {
            "instruction": "make it blue",
            "steps": str(config.steps),
            "max_side": str(config.size),
        }

    def submit(self, wait: bool) -> httpx.Response:
        response = self.http.post(
            "/edit",
            data=self.fields,
            files={"image": ("source.png", self.image, "image/png")},
            headers={"Prefer": "wait=60"} if wait else {},
        )
        response.raise_for_status()
        return response

    def finished(self, job_id: str) -> dict[str, Any]:
        while (job := self.http.get(f"/jobs/{job_id}").raise_for_status().json())["status"] not in FINAL:
            time.sleep(0.02)
        return job


def timed_job(client: Client) -> dict[str, float]:
    started = time.time()
    job = client.submit(wait=True).json()
    if job["status"] not in FINAL:
        job = client.finished(job["id"])
    ended = time.time()
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job['id']} {job['status']}: {job['error']}")
    run = seconds(job["finished_at"]) - seconds(job["started_at"])
    queue = seconds(job["started_at"]) - seconds(job["created_at"])
    return {
        "latency": ended - started,
        "run": run,
        "queue": queue,
        "overhead": ended - started - run,
        "overhead_unqueued": ended - started - run - queue,
    }


def run_bench(config: BenchConfig) -> dict[str, Any]:
    with ExitStack() as stack:
        url = config.url or start_stack(config, stack)
        clients = [Client(config, url) for _ in range(config.clients)]
        for client in clients:
            stack.callback(client.http.close)
        timed_job(clients[0])  # warm-up: first-call costs are not the service's steady state
        shares = [
            config.jobs // config.clients + (i < config.jobs % config.clients) for i in range(config.clients)
        ]
        with ThreadPoolExecutor(config.clients) as pool:
            began = time.perf_counter()
            per_client = pool.map(
                lambda cs: [timed_job(cs[0]) for _ in range(cs[1])], zip(clients, shares, strict=True)
            )
            timings = [timing for client_timings in per_client for timing in client_timings]
            latency_wall = time.perf_counter() - began

            began = time.perf_counter()
            posts = list(
                pool.map(
                    lambda cs: [timed_post(cs[0]) for _ in range(cs[1])], zip(clients, shares, strict=True)
                )
            )
            submit_wall = time.perf_counter() - began
            for client, client_posts in zip(clients, posts, strict=True):
                for job_id, _ in client_posts:
                    client.finished(job_id)
    post_seconds = [elapsed for client_posts in posts for _, elapsed in client_posts]

    def stats(key: str) -> dict[str, float]:
        values = [timing[key] for timing in timings]
        return {"p50_ms": 1000 * percentile(values, 50), "p95_ms": 1000 * percentile(values, 95)}

    return {
        "config": {**asdict(config), "model": str(config.model) if config.model else None},
        "throughput_jobs_per_s": len(timings) / latency_wall,
        "latency": stats("latency"),
        "worker_run": stats("run"),
        "queue_wait": stats("queue"),
        "overhead": stats("overhead"),
        "overhead_unqueued": stats("overhead_unqueued"),
        "submissions_per_s": config.jobs / submit_wall,
        "post": {
            "p50_ms": 1000 * percentile(post_seconds, 50),
            "p95_ms": 1000 * percentile(post_seconds, 95),
        },
    }


def timed_post(client: Client) -> tuple[str, float]:
    started = time.perf_counter()
    job_id = client.submit(wait=False).json()["id"]
    return job_id, time.perf_counter() - started


def start_stack(config: BenchConfig, stack: ExitStack) -> str:
    """Start our own service (embedded, or Redis + one worker) in a scratch folder; its URL."""
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rewardedit-bench-")))
    settings = {"REWARDEDIT_DATA_DIR": str(workdir / "data")}
    if config.api_key:
        settings["REWARDEDIT_API_KEYS"] = config.api_key
    if config.broker:
        redis_server = RedisServer(workdir / "redis").start()
        stack.callback(redis_server.stop)
        settings["REWARDEDIT_BROKER_URL"] = redis_server.url
        worker = Worker(workdir, settings, config.model)
        stack.callback(worker.stop)
    service = Service(workdir, settings, config.model)
    stack.callback(service.stop)
    return service.wait_ready().url


def format_report(result: dict[str, Any]) -> str:
    config = result["config"]
    where = config["url"] or ("own stack, Redis + 1 worker" if config["broker"] else "own stack, embedded")
    rows = [
        ("throughput", f"{result['throughput_jobs_per_s']:.1f} jobs/s"),
        ("submissions (POST, no wait)", f"{result['submissions_per_s']:.1f} /s"),
        ("POST latency p50 / p95", "{p50_ms:.1f} / {p95_ms:.1f} ms".format(**result["post"])),
        ("POST -> finished p50 / p95", "{p50_ms:.1f} / {p95_ms:.1f} ms".format(**result["latency"])),
        ("worker run time p50 / p95", "{p50_ms:.1f} / {p95_ms:.1f} ms".format(**result["worker_run"])),
        ("queue wait p50 / p95", "{p50_ms:.1f} / {p95_ms:.1f} ms".format(**result["queue_wait"])),
        (
            "overhead (end-to-end - run) p50 / p95",
            "{p50_ms:.1f} / {p95_ms:.1f} ms".format(**result["overhead"]),
        ),
        (
            "overhead without queue wait p50 / p95",
            "{p50_ms:.1f} / {p95_ms:.1f} ms".format(**result["overhead_unqueued"]),
        ),
    ]
    lines = [
        f"service benchmark: {where}; {config['clients']} clients, {config['jobs']} jobs, "
        f"{config['size']}x{config['size']} px, {config['steps']} steps",
        "",
        "| measure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    return "\n".join(lines)
