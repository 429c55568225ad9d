"""The figures of issue 18, measured on stacks this script starts (not a test: it asserts nothing).

    python scripts/service_probe.py admission --mode embedded|broker [--max-queued 20 --submissions 200]
    python scripts/service_probe.py crash                   # kill -9 mid-job, default timing
    python scripts/service_probe.py redis-down              # how fast the API answers without Redis
    python scripts/service_probe.py cancel --model DIR      # DELETE to the worker's next job, on CPU
    python scripts/service_probe.py step-gaps --model DIR   # longest wait between cancellation checks

It drives the service over HTTP through api/local_stack.py only, so it measures any checkout
(PYTHONPATH=that/checkout): the same commands gave the "before" figures on the old code.
Every stack runs with the default settings but the ones named; jobs are kept busy with long
edits, so numbers depend on the machine (they are printed with its CPU count).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from PIL import Image

from api.local_stack import RedisServer, Service, Worker, wait_for
from model import make_model

FINAL = ("succeeded", "failed", "canceled")
SETTINGS = {"REWARDEDIT_TORCH_THREADS": "1"}


def png(side: int) -> bytes:
    gradient = Image.linear_gradient("L").resize((side, side))
    image = Image.merge("RGB", (gradient, gradient.rotate(90), gradient.rotate(180)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


class Client:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=120)

    def submit(self, image: bytes, **fields: Any) -> httpx.Response:
        data = {"instruction": "make it blue", **{name: str(value) for name, value in fields.items()}}
        return self.http.post("/edit", data=data, files={"image": ("s.png", image, "image/png")})

    def job(self, job_id: str) -> dict[str, Any]:
        return self.http.get(f"/jobs/{job_id}").json()

    def wait(self, job_id: str, until, timeout_s: float) -> dict[str, Any] | None:
        """The job once until(job) holds; None after timeout_s (Redis may be answering 503 meanwhile)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = self.http.get(f"/jobs/{job_id}")
            if response.status_code == 200 and until(response.json()):
                return response.json()
            time.sleep(0.05)
        return None


def stack(
    resources: ExitStack, workdir: Path, model: Path, broker: bool, workers: int = 1, **settings: str
) -> tuple[Service, list[Worker], dict[str, str]]:
    """The API (and Redis and workers when broker), ready; closed with `resources`."""
    settings = {**SETTINGS, "REWARDEDIT_DATA_DIR": str(workdir / "data"), **settings}
    started: list[Worker] = []
    if broker:
        server = RedisServer(workdir / "redis", appendonly=True).start()
        resources.callback(server.stop)
        settings |= {"REWARDEDIT_BROKER_URL": server.url, "REWARDEDIT_NAMESPACE": "probe"}
        for index in range(workers):
            started.append(Worker(workdir, settings, model, name=f"worker-{index}"))
            resources.callback(started[-1].kill)
    service = Service(workdir, settings, model)
    resources.callback(service.stop)
    service.wait_ready(timeout_s=600)
    return service, started, settings


def busy(client: Client, side: int = 512, steps: int = 150) -> str:
    """A long job, running: what is submitted next waits in the queue."""
    job_id = client.submit(png(side), steps=steps, max_side=side).json()["id"]
    client.wait(job_id, lambda job: job["status"] == "running", 600)
    return job_id


def admission(args: argparse.Namespace, workdir: Path, model: Path) -> dict[str, Any]:
    with ExitStack() as resources:
        limit = {"REWARDEDIT_MAX_QUEUED_JOBS": str(args.max_queued)}
        service, _, _ = stack(resources, workdir, model, args.mode == "broker", **limit)
        client = Client(service.url)
        blocker = busy(client)
        clients = [Client(service.url) for _ in range(args.submissions)]
        start = threading.Barrier(args.submissions)

        def submit(index: int) -> int:
            start.wait()
            return clients[index].submit(png(64), steps=2, seed=index).status_code

        with ThreadPoolExecutor(args.submissions) as pool:
            statuses = Counter(pool.map(submit, range(args.submissions)))
        client.http.delete(f"/jobs/{blocker}")
    return {"mode": args.mode, "max_queued_jobs": args.max_queued, "answers": dict(statuses)}


def crash(args: argparse.Namespace, workdir: Path, model: Path) -> dict[str, Any]:
    """kill -9 the worker holding a running job, another one idle; how long until the job ends."""
    with ExitStack() as resources:
        service, workers, settings = stack(resources, workdir, model, broker=True, workers=2)
        store = redis.Redis.from_url(settings["REWARDEDIT_BROKER_URL"])
        wait_for(lambda: store.scard("probe:workers") == 2, "both workers", 300)
        client = Client(service.url)
        job_id = client.submit(png(128), steps=args.steps, max_side=128).json()["id"]
        client.wait(job_id, lambda job: job["progress"]["step"] >= 1, 300)
        holder = json.loads(store.get(f"probe:job:{job_id}"))["worker"]
        [victim] = [worker for worker in workers if f"-{worker.process.popen.pid}-" in holder]
        victim.kill()
        killed_at = time.time()
        done = client.wait(job_id, lambda job: job["status"] in FINAL, args.timeout)
        record = json.loads(store.get(f"probe:job:{job_id}"))
        if done is None:
            return {"finished": False, "after_s": args.timeout, "status": record["status"]}
        return {
            "finished": True,
            "status": done["status"],
            "attempts": record["attempts"],
            "kill_to_finished_s": round(seconds(done["finished_at"]) - killed_at, 1),
            "kill_to_rerun_s": round(seconds(done["started_at"]) - killed_at, 1),
            "rerun_s": round(seconds(done["finished_at"]) - seconds(done["started_at"]), 1),
        }


def redis_down(args: argparse.Namespace, workdir: Path, model: Path) -> dict[str, Any]:
    """Stop Redis under a broker stack; how long the API takes to answer, and what."""
    with ExitStack() as resources:
        service, _, settings = stack(resources, workdir, model, broker=True)
        client = Client(service.url)
        job_id = client.submit(png(64), steps=2).json()["id"]
        client.wait(job_id, lambda job: job["status"] in FINAL, 300)
        redis.Redis.from_url(settings["REWARDEDIT_BROKER_URL"]).shutdown()
        answers = {}
        for name, call in {
            "GET /jobs/{id}": lambda: client.http.get(f"/jobs/{job_id}"),
            "POST /edit": lambda: client.submit(png(64), steps=2),
            "GET /healthz": lambda: client.http.get("/healthz"),
        }.items():
            started = time.monotonic()
            response = call()
            answers[name] = {
                "status": response.status_code,
                "seconds": round(time.monotonic() - started, 2),
                "retry_after": response.headers.get("retry-after"),
                "broker": response.json().get("broker") if name == "GET /healthz" else None,
            }
    return {"answers": answers}


def cancel(args: argparse.Namespace, workdir: Path, model: Path) -> dict[str, Any]:
    """DELETE the largest job at several points of its run; how long until the worker starts the next."""
    with ExitStack() as resources:
        settings = {"REWARDEDIT_DEVICE": "cpu", "REWARDEDIT_TORCH_THREADS": str(os.cpu_count())}
        service, _, _ = stack(resources, workdir, model, broker=False, **settings)
        client = Client(service.url)
        latencies = []
        for offset in args.offsets:
            big = client.submit(png(args.side), steps=args.steps, max_side=args.side).json()["id"]
            client.wait(big, lambda job: job["status"] == "running", 600)
            time.sleep(offset)
            canceled_at = time.time()
            client.http.delete(f"/jobs/{big}")
            small = client.submit(png(64), steps=1, max_side=64).json()["id"]
            started = client.wait(small, lambda job: job["started_at"] is not None, 3600)
            latencies.append(round(seconds(started["started_at"]) - canceled_at, 2))
            client.wait(small, lambda job: job["status"] in FINAL, 600)
    return {"side": args.side, "steps": args.steps, "offsets_s": args.offsets, "cancel_to_free_s": latencies}


def step_gaps(args: argparse.Namespace, workdir: Path, model: Path) -> dict[str, Any]:
    """In this process: an edit of one step at the largest size, timing the gaps between the
    worker's cancellation checks (worker/interrupt.py), or, --between-steps-only, between the
    pipeline's own step callbacks, as the worker checked before.
    """
    import torch

    from model import RewardEditPipeline

    torch.set_num_threads(os.cpu_count())
    pipeline = RewardEditPipeline.from_pretrained(model, device="cpu")
    marks = [time.perf_counter()]

    def check() -> bool:
        marks.append(time.perf_counter())
        return False

    if args.between_steps_only:
        checked = contextlib.nullcontext()
    else:
        from worker.interrupt import MidStepStop

        checked = MidStepStop(pipeline).arm(check, 1)
    image = Image.open(io.BytesIO(png(args.side)))
    with checked:
        pipeline(image, "edit", num_inference_steps=1, max_side=args.side, callback=lambda *_: not check())
    marks.append(time.perf_counter())
    gaps = [later - earlier for earlier, later in itertools.pairwise(marks)]
    return {
        "side": args.side,
        "checks": len(marks) - 2,
        "whole_s": round(marks[-1] - marks[0], 1),
        "longest_gap_s": round(max(gaps), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: a fresh tiny one)")
    commands = parser.add_subparsers(dest="command", required=True)
    admit = commands.add_parser("admission")
    admit.add_argument("--mode", choices=("embedded", "broker"), default="embedded")
    admit.add_argument("--max-queued", type=int, default=20)
    admit.add_argument("--submissions", type=int, default=200)
    killed = commands.add_parser("crash")
    killed.add_argument("--steps", type=int, default=150)
    killed.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    canceled = commands.add_parser("cancel")
    canceled.add_argument("--side", type=int, default=1024)
    canceled.add_argument("--steps", type=int, default=128)
    canceled.add_argument("--offsets", type=float, nargs="+", default=[5.0, 20.0, 45.0])
    commands.add_parser("redis-down")
    gaps = commands.add_parser("step-gaps")
    gaps.add_argument("--side", type=int, default=1024)
    gaps.add_argument("--between-steps-only", action="store_true", help="no checks inside steps")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = args.model or make_model("tiny", workdir / "tiny", seed=0)
        command = {
            "admission": admission,
            "crash": crash,
            "redis-down": redis_down,
            "cancel": cancel,
            "step-gaps": step_gaps,
        }
        result = command[args.command](args, workdir, model)
    print(json.dumps({"command": args.command, "cpus": os.cpu_count(), **result}))


if __name__ == "__main__":
    main()
