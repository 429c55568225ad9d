"""`python -m worker.healthcheck`, the worker container's healthcheck: this host's heartbeat is fresh.

The real thing: a redis-server and a `rewardedit worker` process, healthy while it is busy with a
long edit (when a Celery ping would go unanswered), unhealthy once it is gone.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from api.local_stack import RedisServer, Worker, child_env, free_port, wait_for
from api.schemas import EditForm
from worker.celery_app import CeleryDispatcher, create_celery
from worker.healthcheck import check
from worker.jobs import RUNNING, cancel, new_job
from worker.redis_store import RedisJobStore
from worker.settings import Settings
from worker.store import Limits, input_key

HEARTBEAT_S = 0.5
HOST = socket.gethostname()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> dict[str, str]:
    """A worker's environment, with its own Redis namespace."""
    return {
        "REWARDEDIT_BROKER_URL": redis_url,
        "REWARDEDIT_NAMESPACE": f"health-{uuid.uuid4().hex[:8]}",
        "REWARDEDIT_HEARTBEAT_S": str(HEARTBEAT_S),
        "REWARDEDIT_TORCH_THREADS": "1",
        "REWARDEDIT_DATA_DIR": str(tmp_path / "data"),
    }


def as_settings(env: dict[str, str]) -> Settings:
    return Settings(**{name.removeprefix("REWARDEDIT_").lower(): value for name, value in env.items()})


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess:
    """The command Docker runs in the worker's container, with the worker's environment."""
    return subprocess.run(
        [sys.executable, "-m", "worker.healthcheck"],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unhealthy_without_a_broker_redis_or_a_worker_of_this_host(settings):
    assert check(Settings(broker_url=None), HOST) == (
        False,
        "no broker URL: set REWARDEDIT_BROKER_URL or REDIS_URL",
    )
    unreachable = {**settings, "REWARDEDIT_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    healthy, why = check(as_settings(unreachable), HOST)
    assert not healthy and "unreachable" in why

    store = RedisJobStore(settings["REWARDEDIT_BROKER_URL"], settings["REWARDEDIT_NAMESPACE"], 60)
    store.announce_worker(f"other-{HOST}-17-abcdef", {"id": f"other-{HOST}-17-abcdef"}, ttl_s=60)
    store.announce_worker(f"{HOST}-x-17-abcdef", {"id": f"{HOST}-x-17-abcdef"}, ttl_s=60)
    store.close()
    healthy, why = check(as_settings(settings), HOST)
    assert not healthy and f"no fresh heartbeat from a worker on {HOST}" in why


@pytest.mark.slow
def test_healthy_while_the_worker_edits_and_unhealthy_once_it_is_gone(settings, tiny_checkpoint, tmp_path):
    worker = Worker(tmp_path, settings, tiny_checkpoint)
    try:
        wait_for(
            lambda: check(as_settings(settings), HOST)[0], "the worker's first heartbeat", 120, worker.process
        )
        started = healthcheck(settings)
        assert started.returncode == 0 and started.stdout.startswith(f"healthy: 1 worker(s) on {HOST} alive")

        job_id = submit_long_edit(as_settings(settings))
        store = RedisJobStore(settings["REWARDEDIT_BROKER_URL"], settings["REWARDEDIT_NAMESPACE"], 60)
        # Busy for longer than a heartbeat lives (3 intervals): only the heartbeat thread speaks for it.
        wait_for(
            lambda: (
                (job := store.get(job_id)).status == RUNNING
                and time.time() - job.started_at > 4 * HEARTBEAT_S
            ),
            "a long edit under way",
            60,
            worker.process,
        )
        busy = healthcheck(settings)
        assert busy.returncode == 0, busy.stderr
        assert store.get(job_id).status == RUNNING

        store.update(job_id, lambda job: cancel(job, time.time()), delete=[input_key(job_id)])
        worker.stop()
        wait_for(
            lambda: not check(as_settings(settings), HOST)[0], "the heartbeat to expire", 10 * HEARTBEAT_S
        )
        gone = healthcheck(settings)
        assert gone.returncode == 1 and gone.stderr.startswith("unhealthy: no fresh heartbeat")
        store.close()
    finally:
        worker.kill()


def submit_long_edit(settings: Settings) -> str:
    """Queue a minutes-long edit (512 px, 150 steps) as POST /edit would."""
    image = io.BytesIO()
    Image.new("RGB", (512, 512), (90, 140, 200)).save(image, format="PNG")
    job = new_job(
        "anonymous", EditForm(instruction="keep busy", steps=150).model_dump(exclude={"seed"}), 0, time.time()
    )
    store = RedisJobStore(settings.broker_url, settings.namespace, settings.job_ttl_s)
    store.insert(job, {input_key(job.id): image.getvalue()}, None, Limits(queued=1, per_owner=None))
    store.close()
    dispatcher = CeleryDispatcher(create_celery(settings))
    dispatcher.submit(job.id)
    dispatcher.close()
    return job.id
