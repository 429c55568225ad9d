"""A thread that keeps announcing a worker in the job store, which is how /readyz sees it alive.

It runs beside the job (a solo Celery worker cannot answer pings while it edits), and does the
worker's other periodic duties after each announcement: sweeping for abandoned jobs (reaper.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .store import JobStore, StoreUnavailable

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        store: JobStore,
        worker_id: str,
        info: Mapping[str, Any],
        interval_s: float,
        duties: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._store = store
        self._worker_id = worker_id
        self._info = info
        self._interval_s = interval_s
        self._duties = duties
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="rewardedit-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._announce()  # synchronously, so the worker counts as ready when start() returns
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self._announce()
            for duty in self._duties:
                try:
                    duty()
                except StoreUnavailable as exc:
                    logger.warning("%s skipped: %s", duty.__qualname__, exc)
                except Exception:  # a bug in a duty must not stop the heartbeat: the worker would look dead
                    logger.exception("%s failed", duty.__qualname__)

    def _announce(self) -> None:
        try:
            self._store.announce_worker(self._worker_id, self._info, ttl_s=3 * self._interval_s)
        except StoreUnavailable as exc:
            logger.warning("heartbeat not recorded: %s", exc)
