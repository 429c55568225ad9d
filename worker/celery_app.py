"""The Celery app on Redis (broker and result store) and the edit task; messages carry job ids only.

Worker rules (DESIGN.md section 3): late acks and reject on worker lost; prefetch 1 and a solo
pool, one process per GPU; a visibility timeout above the longest job. A dead worker's job does
not wait for that timeout: the reapers find it by its lease and send it again (reaper.py). A
message delivered twice is made harmless by the job store's claim (jobs.claim).
"""

from __future__ import annotations

import logging

import kombu.exceptions
import redis
from celery import Celery, Task
from celery.exceptions import Reject

from .runner import EditRunner
from .settings import Settings
from .store import StoreUnavailable

logger = logging.getLogger(__name__)
TASK_NAME = "rewardedit.edit"
PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}


def create_celery(settings: Settings) -> Celery:
    """The app both sides build: the API sends tasks by name, the worker registers and runs them."""
    prefix = f"{settings.namespace}:celery:"
    app = Celery("rewardedit", broker=settings.broker_url, backend=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.namespace,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_pool="solo",
        worker_concurrency=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # Celery 6's default: after a broker connection loss, unacknowledged jobs are redelivered.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "global_keyprefix": prefix,
            # Sweep for the messages of dead workers every interval, not every tenth interval.
            "unacked_restore_interval": settings.restore_interval_s,
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"global_keyprefix": prefix},
        result_expires=settings.job_ttl_s,
    )
    return app


def register_edit_task(app: Celery, runner: EditRunner) -> Task:
    @app.task(name=TASK_NAME)
    def edit(job_id: str) -> str:
        try:
            return runner.run(job_id)
        except StoreUnavailable as exc:
            # Requeue, if Redis is back by then; either way, once the job's lease runs out a reaper
            # sends it again (a requeued message that finds the lease still live is skipped).
            logger.warning("job %s: given up, the job store is unreachable: %s", job_id, exc)
            raise Reject(str(exc), requeue=True) from exc

    return edit


class CeleryDispatcher:
    """Sends a job id to the workers' queue."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def submit(self, job_id: str) -> None:
        try:
            self._app.send_task(TASK_NAME, args=[job_id], task_id=job_id, retry_policy=PUBLISH_RETRY)
        except (kombu.exceptions.OperationalError, redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"the broker is unreachable: {exc}") from exc

    def close(self) -> None:
        self._app.close()
