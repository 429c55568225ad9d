"""Finding the jobs no worker is going to finish, and handing them to the workers again.

Every worker's heartbeat thread sweeps for two kinds (the embedded worker's too):

- a running job whose lease ran out: its worker died (kill -9, the OOM killer, a lost machine) or
  its run ended in a Redis outage. It goes back to the queue with a new message (`jobs.requeue`),
  or fails with `worker_lost` once `max_attempts` runs have ended that way, so a job that kills
  every worker taking it does not take them all down in turn.
- a queued job whose message is not known to be sent: the API (or a reaper) stopped between
  storing the job and sending its message. The message is sent.

A job must look the same in two sweeps at least `settle_s` apart before either happens. A live
worker renews its leases twice a second (worker/leases.py), which moves their end each time: one
whose Redis has just come back renews before anyone takes it for dead, and a clock that is off on
another machine cannot make it look dead either. One busy sending a message has long sent it. A
message sent twice does no harm: the claim lets one delivery run the job and the other skip it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .jobs import JobRecord, give_up, requeue
from .settings import Settings
from .store import JobStore, input_key

logger = logging.getLogger(__name__)

SCAN = 256  # jobs looked at per kind and sweep; the rest wait for the next sweep
WORKER_LOST = "worker_lost"


class Reaper:
    def __init__(
        self,
        store: JobStore,
        submit: Callable[[str], None],
        settle_s: float,
        max_attempts: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` measures the settling (a test passes one it advances itself)."""
        self._store = store
        self._submit = submit
        self._settle_s = settle_s
        self._max_attempts = max_attempts
        self._clock = clock
        # (kind, job id, lease end or since) -> when a sweep first saw the job so
        self._seen: dict[tuple[str, str, float], float] = {}

    @classmethod
    def from_settings(cls, store: JobStore, submit: Callable[[str], None], settings: Settings) -> Reaper:
        """Settled after a third of the lease: a live worker renews many times within that."""
        return cls(store, submit, settings.lease_s / 3, settings.max_attempts)

    def sweep(self) -> None:
        """Recover what has looked abandoned, unchanged, for settle_s; remember what looks so now."""
        clock = self._clock()
        seen: dict[tuple[str, str, float], float] = {}

        def settled(mark: tuple[str, str, float]) -> bool:
            seen[mark] = self._seen.get(mark, clock)
            return clock - seen[mark] >= self._settle_s

        for job in self._store.abandoned(time.time(), SCAN):
            if settled(("lease", job.id, job.lease_until)):
                self._recover(job)
        for job_id, since in self._store.undispatched(SCAN):
            if settled(("message", job_id, since)):
                logger.warning("job %s: queued without a message sent; sending it", job_id)
                self._submit(job_id)
        self._seen = seen

    def _recover(self, job: JobRecord) -> None:
        if job.attempts >= self._max_attempts:
            error = {
                "code": WORKER_LOST,
                "message": f"the workers running this job stopped without finishing it {job.attempts} "
                "times (crashed, killed or lost); it is not run again",
            }
            gave_up = self._store.update(
                job.id, lambda j: give_up(j, job.lease_until, time.time(), error), delete=[input_key(job.id)]
            )
            if gave_up is not None:
                logger.error("job %s: failed after %d lost runs", job.id, job.attempts)
            return
        if self._store.update(job.id, lambda j: requeue(j, job.lease_until)) is not None:
            logger.warning(
                "job %s: worker %s stopped renewing its lease; queued again after %d run(s)",
                job.id,
                job.worker,
                job.attempts,
            )
            self._submit(job.id)
