"""The job store of the embedded mode: records in this process's memory, blobs as files on disk.

One lock makes every operation atomic, which is all the state machine in jobs.py needs.
Records live as long as the process; expired records and blob files are swept now and then.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .jobs import QUEUED, RUNNING, JobRecord
from .store import Change, JobStore, LimitReached, Limits

SWEEP_EVERY_S = 60.0


class LocalJobStore(JobStore):
    def __init__(self, blob_dir: Path, ttl_s: int) -> None:
        self._blob_dir = blob_dir
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[JobRecord, float]] = {}  # id -> (record, expires at)
        self._idempotency: dict[tuple[str, str], str] = {}  # (owner, key) -> job id
        self._workers: dict[str, tuple[dict[str, Any], float]] = {}
        self._undispatched: dict[str, float] = {}  # queued job id -> since when its message is due
        self._next_sweep = 0.0
        blob_dir.mkdir(parents=True, exist_ok=True)

    def insert(
        self, job: JobRecord, blobs: Mapping[str, bytes], idempotency_key: str | None, limits: Limits
    ) -> JobRecord:
        with self._lock:
            self._sweep()
            if idempotency_key is not None:
                existing = self._live(self._idempotency.get((job.owner, idempotency_key)))
                if existing is not None:
                    return existing
            if sum(1 for _ in self._queued()) >= limits.queued:
                raise LimitReached("queued", limits.queued)
            if limits.per_owner is not None:
                unfinished = (j for j in self._live_jobs() if j.owner == job.owner and not j.finished)
                if sum(1 for _ in unfinished) >= limits.per_owner:
                    raise LimitReached("per_owner", limits.per_owner)
            if idempotency_key is not None:
                self._idempotency[(job.owner, idempotency_key)] = job.id
            self._write_blobs(blobs)
            self._jobs[job.id] = (job, time.time() + self._ttl_s)
            self._undispatched[job.id] = time.time()
            return job

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._live(job_id)

    def update(
        self, job_id: str, change: Change, put: Mapping[str, bytes] | None = None, delete: Iterable[str] = ()
    ) -> JobRecord | None:
        with self._lock:
            job = self._live(job_id)
            new = None if job is None else change(job)
            if new is None:
                return None
            self._write_blobs(put or {})
            for key in delete:
                (self._blob_dir / key).unlink(missing_ok=True)
            expires = time.time() + self._ttl_s if new.finished else self._jobs[job_id][1]
            self._jobs[job_id] = (new, expires)
            if new.status == QUEUED and job.status != QUEUED:  # requeued: its message is still to be sent
                self._undispatched[job_id] = time.time()
            elif new.status != QUEUED:
                self._undispatched.pop(job_id, None)
            return new

    def get_blob(self, key: str) -> bytes | None:
        try:
            return (self._blob_dir / key).read_bytes()
        except FileNotFoundError:
            return None

    def queue_position(self, job_id: str) -> int | None:
        with self._lock:
            queued = sorted((job.created_at, job.id) for job in self._queued())
        ids = [queued_id for _, queued_id in queued]
        return ids.index(job_id) + 1 if job_id in ids else None

    def queue_length(self) -> int:
        with self._lock:
            return sum(1 for _ in self._queued())

    def queued(self, limit: int) -> list[JobRecord]:
        with self._lock:
            return sorted(self._queued(), key=lambda job: (job.created_at, job.id))[:limit]

    def abandoned(self, now: float, limit: int) -> list[JobRecord]:
        with self._lock:
            jobs = [j for j in self._live_jobs() if j.status == RUNNING and j.lease_until < now]
        return sorted(jobs, key=lambda job: job.lease_until)[:limit]

    def undispatched(self, limit: int) -> list[tuple[str, float]]:
        with self._lock:
            return sorted(self._undispatched.items(), key=lambda entry: entry[1])[:limit]

    def mark_dispatched(self, job_id: str) -> None:
        with self._lock:
            self._undispatched.pop(job_id, None)

    def announce_worker(self, worker_id: str, info: Mapping[str, Any], ttl_s: float) -> None:
        with self._lock:
            self._workers[worker_id] = (dict(info), time.time() + ttl_s)

    def workers(self) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            return [info for _, (info, expires) in sorted(self._workers.items()) if expires > now]

    def ping(self) -> None:
        """Always reachable: it is this process."""

    def close(self) -> None:
        """Nothing to release: records die with the process, blobs expire on disk."""

    # -- internals, called with the lock held ---------------------------------------------------
    def _live(self, job_id: str | None) -> JobRecord | None:
        entry = self._jobs.get(job_id) if job_id is not None else None
        return entry[0] if entry is not None and entry[1] > time.time() else None

    def _live_jobs(self) -> Iterable[JobRecord]:
        now = time.time()
        return (job for job, expires in self._jobs.values() if expires > now)

    def _queued(self) -> Iterable[JobRecord]:
        return (job for job in self._live_jobs() if job.status == QUEUED)

    def _write_blobs(self, blobs: Mapping[str, bytes]) -> None:
        for key, data in blobs.items():
            path = self._blob_dir / key
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(data)
            os.replace(partial, path)

    def _sweep(self) -> None:
        """Forget expired records and delete blob files older than the expiry (also from past runs)."""
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY_S
        expired = {job_id for job_id, (_, expires) in self._jobs.items() if expires <= now}
        for job_id in expired:
            del self._jobs[job_id]
            self._undispatched.pop(job_id, None)
        self._idempotency = {
            key: job_id for key, job_id in self._idempotency.items() if job_id not in expired
        }
        for path in self._blob_dir.iterdir():
            if path.stat().st_mtime < now - self._ttl_s:
                path.unlink(missing_ok=True)
