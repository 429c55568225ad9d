"""`python -m worker.healthcheck`: exit 0 when a worker on this host announced itself recently.

Docker runs it inside a worker's container. A Celery ping goes unanswered while the solo pool is
editing, but the heartbeat thread keeps announcing the worker meanwhile (worker/heartbeat.py),
and an announcement expires three heartbeat intervals after the last one: a fresh one means the
worker process is alive and consuming.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from .redis_store import RedisJobStore
from .settings import Settings
from .store import JobStore, StoreUnavailable


def host_of(worker_id: str) -> str:
    """The host part of a worker id, which EditRunner makes `<hostname>-<pid>-<random>`."""
    return worker_id.rsplit("-", 2)[0]


def fresh_workers_on(store: JobStore, hostname: str) -> list[dict[str, Any]]:
    return [worker for worker in store.workers() if host_of(worker["id"]) == hostname]


def check(settings: Settings, hostname: str) -> tuple[bool, str]:
    """Whether a worker on this host is alive, and a line saying why."""
    if settings.embedded:
        return False, "no broker URL: set REWARDEDIT_BROKER_URL or REDIS_URL"
    store = RedisJobStore(settings.broker_url, settings.namespace, settings.job_ttl_s)
    try:
        workers = fresh_workers_on(store, hostname)
    except StoreUnavailable as exc:
        return False, str(exc)
    finally:
        store.close()
    if not workers:
        return False, f"no fresh heartbeat from a worker on {hostname} (loading, stuck or gone)"
    return True, f"{len(workers)} worker(s) on {hostname} alive: " + ", ".join(w["id"] for w in workers)


def main() -> int:
    healthy, why = check(Settings(), socket.gethostname())
    print(f"{'healthy' if healthy else 'unhealthy'}: {why}", file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
