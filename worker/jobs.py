"""The job record and its state machine, as pure functions both job stores apply atomically.

Each transition returns the new record, or None when it does not apply to the current one (the
job was canceled, finished, or is held by another worker): that is how cancellation reaches a
running worker and how a redelivered job is run at most once to a result.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
FINAL = frozenset({SUCCEEDED, FAILED, CANCELED})


@dataclass(frozen=True)
class JobRecord:
    id: str
    owner: str
    params: dict[str, Any]
    seed: int
    created_at: float
    status: str = QUEUED
    step: int = 0
    total: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: dict[str, str] | None = None
    attempts: int = 0
    worker: str | None = None
    lease_until: float = 0.0
    # Best-of-N jobs: each judged candidate (seed, judgements, weighted score, error) and the winner.
    candidates: list[dict[str, Any]] = field(default_factory=list)
    chosen: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def candidate_count(self) -> int:
        return self.params.get("candidates", 1)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> JobRecord:
        return cls(**json.loads(text))


def new_job(owner: str, params: dict[str, Any], seed: int, now: float) -> JobRecord:
    job = JobRecord(id=uuid.uuid4().hex, owner=owner, params=params, seed=seed, created_at=now)
    return replace(job, total=params["steps"] * job.candidate_count)  # steps across all candidates


def claim(job: JobRecord, worker: str, now: float, lease_s: float) -> JobRecord | None:
    """Start (or restart, after its worker died) a job; None when it must not run here."""
    if job.finished:
        return None
    if job.status == RUNNING and job.worker != worker and job.lease_until > now:
        return None  # a live worker holds it: this is a duplicate delivery
    return replace(
        job,
        status=RUNNING,
        step=0,
        started_at=now,
        attempts=job.attempts + 1,
        worker=worker,
        lease_until=now + lease_s,
        candidates=[],
        chosen=None,
    )


def advance(
    job: JobRecord, worker: str, step: int, total: int, now: float, lease_s: float
) -> JobRecord | None:
    """Record progress and renew the lease; None tells the worker to stop (canceled or taken over)."""
    if job.status != RUNNING or job.worker != worker:
        return None
    return replace(job, step=step, total=total, lease_until=now + lease_s)


def add_candidate(
    job: JobRecord, worker: str, candidate: dict[str, Any], now: float, lease_s: float
) -> JobRecord | None:
    """Record a judged candidate and renew the lease; None tells the worker to stop, as advance does."""
    if job.status != RUNNING or job.worker != worker:
        return None
    return replace(job, candidates=[*job.candidates, candidate], lease_until=now + lease_s)


def finish(
    job: JobRecord,
    worker: str,
    status: str,
    now: float,
    error: dict[str, str] | None = None,
    chosen: int | None = None,
) -> JobRecord | None:
    """End a run with a final status; only the worker holding the job may do it, and only once."""
    if job.status != RUNNING or job.worker != worker:
        return None
    step = job.total if status == SUCCEEDED else job.step
    return replace(
        job, status=status, step=step, finished_at=now, error=error, lease_until=0.0, chosen=chosen
    )


def record_stop(job: JobRecord, worker: str, step: int) -> JobRecord | None:
    """After a cancellation, record the step the worker actually stopped at."""
    if job.status != CANCELED or job.worker != worker:
        return None
    return replace(job, step=step)


def cancel(job: JobRecord, now: float) -> JobRecord | None:
    """Cancel a queued job (it will never run) or a running one (its worker stops at the next step)."""
    if job.finished:
        return None
    return replace(job, status=CANCELED, finished_at=now, lease_until=0.0)


def fail_queued(job: JobRecord, now: float, error: dict[str, str]) -> JobRecord | None:
    """Fail a job that never reached a worker (its message could not be sent)."""
    if job.status != QUEUED:
        return None
    return replace(job, status=FAILED, finished_at=now, error=error)
