"""`rewardedit worker`: one Celery worker process (solo pool) serving one device."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    worker = subparsers.add_parser("worker", help="process edit jobs from Redis (one process per GPU)")
    worker.add_argument(
        "--model", type=Path, default=None, help="checkpoint folder (default: the settings' model path)"
    )
    worker.add_argument(
        "--device", choices=("cuda", "cpu"), default=None, help="default: cuda when available"
    )
    worker.set_defaults(func=worker_command)


def worker_command(args: argparse.Namespace) -> int:
    from celery.signals import worker_ready

    from model import CheckpointError, InvalidInputError
    from rewardedit.console import fail

    from .backend import dispatcher
    from .celery_app import CeleryDispatcher, create_celery, register_edit_task
    from .heartbeat import Heartbeat
    from .judging import ServiceJudge
    from .model_source import resolve_model
    from .reaper import Reaper
    from .redis_store import RedisJobStore
    from .runner import EditRunner
    from .settings import Settings

    overrides = {"model_path": args.model, "device": args.device}
    settings = Settings(**{name: value for name, value in overrides.items() if value is not None})
    if settings.embedded:
        return fail(
            "no broker URL: set REWARDEDIT_BROKER_URL or REDIS_URL "
            "(without one, `rewardedit serve` runs the jobs itself)"
        )
    store = RedisJobStore(settings.broker_url, settings.namespace, settings.job_ttl_s)
    try:
        judge = ServiceJudge.open(settings)
    except ValueError as exc:
        return fail(str(exc))
    try:
        runner = EditRunner.load(store, settings, resolve_model(settings), judge)
    except (CheckpointError, InvalidInputError) as exc:
        return fail(str(exc))
    app = create_celery(settings)
    register_edit_task(app, runner)
    reaper = Reaper.from_settings(store, dispatcher(store, CeleryDispatcher(app).submit), settings)
    heartbeat = Heartbeat(store, runner.worker_id, runner.info(), settings.heartbeat_s, [reaper.sweep])
    # Announce only once the consumer is up, so /readyz never counts a worker that cannot take jobs.
    worker_ready.connect(lambda **_: heartbeat.start(), weak=False)
    logger.info(
        "worker %s: %s on %s, queue %r",
        runner.worker_id,
        runner.model.path,
        runner.pipeline.device,
        settings.namespace,
    )
    worker = app.Worker(
        hostname=f"rewardedit@{runner.worker_id}",
        queues=[settings.namespace],
        pool="solo",
        concurrency=1,
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        loglevel="INFO",
    )
    worker.start()
    heartbeat.stop()
    if judge is not None:
        judge.close()
    return worker.exitcode or 0
