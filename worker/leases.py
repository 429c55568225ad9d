"""Renewing the leases of the jobs a worker runs, from a thread beside the edit.

A job's lease says that its worker is alive; one left to run out lets the reapers run the job
again (worker/reaper.py). Steps cannot be what renews it: one step of a large edit takes minutes
on a CPU, longer than any lease short enough to notice a dead worker quickly, and a healthy job
must never look abandoned. So while a runner holds jobs, a keeper thread renews their leases every
KEEP_S, for as long as the process lives. Each renewal also tells, within KEEP_S, whether a held
job is still this worker's to run (not canceled, not requeued after an outage), which lets the
runner stop in the middle of a step (worker/interrupt.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from types import TracebackType

from .jobs import renew
from .store import JobStore, StoreUnavailable

logger = logging.getLogger(__name__)

KEEP_S = 0.5


class LeaseKeeper:
    """A context: a thread renews the held jobs' leases until it exits, and records the lost ones."""

    def __init__(self, store: JobStore, worker_id: str, lease_s: float, job_ids: Iterable[str]) -> None:
        self._store = store
        self._worker_id = worker_id
        self._lease_s = lease_s
        self._held = frozenset(job_ids)
        self._lost: set[str] = set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="rewardedit-leases", daemon=True)

    def lost(self, job_id: str) -> bool:
        """Whether a renewal found the job no longer this worker's (canceled or taken over)."""
        return job_id in self._lost

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join()

    def _keep(self) -> None:
        while not self._stopped.wait(KEEP_S):
            for job_id in self._held - self._lost:
                try:
                    renewed = self._store.update(
                        job_id, lambda j: renew(j, self._worker_id, time.time(), self._lease_s)
                    )
                except StoreUnavailable as exc:
                    logger.warning("job %s: lease not renewed: %s", job_id, exc)
                    break
                if renewed is None:
                    self._lost.add(job_id)
