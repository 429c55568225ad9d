"""What the API talks to, chosen by the settings: Redis + Celery workers, or the embedded mode."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .judging import ServiceJudge
from .settings import Settings
from .store import JobStore

logger = logging.getLogger(__name__)

EMBEDDED, BROKER = "embedded", "broker"


@dataclass
class Backend:
    mode: str
    store: JobStore
    submit: Callable[[str], None]  # hands a stored job's id to the workers
    close: Callable[[], None]


def dispatcher(store: JobStore, send: Callable[[str], None]) -> Callable[[str], None]:
    """Send a stored job's message, then mark it sent.

    A job stays marked unsent from its insert (or requeue) until then, so one whose sender died
    in between is found and sent by the reapers (reaper.py).
    """

    def submit(job_id: str) -> None:
        send(job_id)
        store.mark_dispatched(job_id)

    return submit


def open_backend(settings: Settings, judge: ServiceJudge | None) -> Backend:
    """Connect to Redis, or load the model and start the in-process worker (embedded mode).

    Imports are per mode: the embedded mode needs neither Redis nor Celery, the API with a broker
    no model in memory. The embedded worker shares the API's judge.
    """
    if not settings.embedded:
        from .celery_app import CeleryDispatcher, create_celery
        from .redis_store import API_PATIENCE, RedisJobStore

        store = RedisJobStore(settings.broker_url, settings.namespace, settings.job_ttl_s, API_PATIENCE)
        celery = CeleryDispatcher(create_celery(settings))

        def close() -> None:
            celery.close()
            store.close()

        return Backend(BROKER, store, dispatcher(store, celery.submit), close)

    from .embedded import EmbeddedWorker
    from .local_store import LocalJobStore
    from .model_source import resolve_model
    from .reaper import Reaper
    from .runner import EditRunner

    store = LocalJobStore(settings.blob_dir, settings.job_ttl_s)
    model = resolve_model(settings)
    worker = EmbeddedWorker(EditRunner.load(store, settings, model, judge), settings.heartbeat_s)
    submit = dispatcher(store, worker.submit)
    worker.start(duties=[Reaper.from_settings(store, submit, settings).sweep])
    logger.info("embedded mode: jobs run in this process with %s; blobs in %s", model.path, settings.blob_dir)
    return Backend(EMBEDDED, store, submit, worker.close)
