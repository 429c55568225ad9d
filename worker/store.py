"""The job store interface: job records, blobs and worker announcements, with expiry.

Two implementations keep the API and task code identical in both modes: Redis (with a broker)
and local (embedded mode: records in memory, blobs on disk).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .jobs import JobRecord

Change = Callable[[JobRecord], "JobRecord | None"]


class StoreUnavailable(RuntimeError):
    """The job store (Redis) cannot be reached."""


@dataclass(frozen=True)
class Limits:
    """What `insert` admits, checked in the same atomic step as the insert itself."""

    queued: int  # jobs waiting for a worker, all owners together
    per_owner: int | None  # one owner's queued and running jobs; None: no such limit


class LimitReached(Exception):
    """`insert` stored nothing: `limit` ("queued" or "per_owner") is reached."""

    def __init__(self, limit: str, value: int) -> None:
        super().__init__(f"the {limit} limit of {value} jobs is reached")
        self.limit = limit
        self.value = value


def input_key(job_id: str) -> str:
    return f"{job_id}.input.png"


def result_key(job_id: str) -> str:
    return f"{job_id}.result.png"


class JobStore(ABC):
    """Atomic operations on job records; a record that reaches a final status expires ttl_s later."""

    @abstractmethod
    def insert(
        self, job: JobRecord, blobs: Mapping[str, bytes], idempotency_key: str | None, limits: Limits
    ) -> JobRecord:
        """Store a new queued job with its blobs, or return the owner's job already under this key.

        One atomic step: the key's job is returned whatever the limits; otherwise LimitReached when
        the job would exceed them. A stored job counts as undispatched until `mark_dispatched`.
        """

    @abstractmethod
    def get(self, job_id: str) -> JobRecord | None:
        """The job record, or None when unknown or expired."""

    @abstractmethod
    def update(
        self, job_id: str, change: Change, put: Mapping[str, bytes] | None = None, delete: Iterable[str] = ()
    ) -> JobRecord | None:
        """Apply change atomically; put/delete blobs only if it applies. The new record, or None if not."""

    @abstractmethod
    def get_blob(self, key: str) -> bytes | None: ...

    @abstractmethod
    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when the job is not queued."""

    @abstractmethod
    def queue_length(self) -> int: ...

    @abstractmethod
    def queued(self, limit: int) -> list[JobRecord]:
        """Up to `limit` queued jobs, the next to start first (the candidates for a worker's batch)."""

    @abstractmethod
    def abandoned(self, now: float, limit: int) -> list[JobRecord]:
        """Up to `limit` running jobs whose lease ended before `now`."""

    @abstractmethod
    def undispatched(self, limit: int) -> list[tuple[str, float]]:
        """Up to `limit` queued jobs whose message is not known to be sent: (id, since when)."""

    @abstractmethod
    def mark_dispatched(self, job_id: str) -> None:
        """The job's message is sent."""

    @abstractmethod
    def announce_worker(self, worker_id: str, info: Mapping[str, Any], ttl_s: float) -> None:
        """Say a worker is alive for the next ttl_s seconds."""

    @abstractmethod
    def workers(self) -> list[dict[str, Any]]:
        """Announcements of the workers alive now."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot be reached."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
