"""The embedded mode's worker: the same runner as a Celery worker, fed from an in-process queue."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from .heartbeat import Heartbeat
from .runner import EditRunner

logger = logging.getLogger(__name__)


class EmbeddedWorker:
    """One background thread running jobs in submission order, like a solo worker process."""

    def __init__(self, runner: EditRunner, heartbeat_s: float) -> None:
        self._runner = runner
        self._heartbeat_s = heartbeat_s
        self._heartbeat: Heartbeat | None = None
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="rewardedit-embedded-worker", daemon=True)

    def start(self, duties: Sequence[Callable[[], None]] = ()) -> EmbeddedWorker:
        """Start serving; the heartbeat also does the duties (the reaper's sweep) every beat."""
        runner = self._runner
        self._thread.start()
        self._heartbeat = Heartbeat(runner.store, runner.worker_id, runner.info(), self._heartbeat_s, duties)
        self._heartbeat.start()
        return self

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def close(self) -> None:
        """Stop after the job at hand; jobs still queued are lost with the process's memory."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._queue.put(None)

    def _serve(self) -> None:
        while (job_id := self._queue.get()) is not None:
            try:
                self._runner.run(job_id)
            except Exception:
                logger.exception("job %s: the runner crashed; serving the next job", job_id)
