"""The job record and its state machine, as pure functions both job stores apply atomically.

Each transition returns the new record, or None when it does not apply to the current one (the
job was canceled, finished, or is held by another worker): that is how cancellation reaches a
running worker and how a redelivered job is run at most once to a result.

Recovery: a worker renews the lease of each job it runs twice a second, from a thread beside the
edit (worker/leases.py). A job whose lease ran out belongs to a worker that died (or whose run
ended in a Redis outage): a reaper puts it back in the queue (`requeue`), or fails it once it has
cost `max_attempts` workers (`give_up`), see worker/reaper.py. `attempts` counts the claims.

Batching: a worker that starts a job may also claim compatible queued jobs (`batch_key`) and run
them in one pipeline call. Their own messages then find them taken and are acknowledged unrun,
so before claiming them the worker lists them on the job whose message it is handling (`cover`):
if it dies, that message comes back (it is acknowledged only once the whole batch has ended),
and whoever handles it re-claims the batch-mates the dead worker left behind.

Defaults: a request may leave the steps and guidance scales unset (None), meaning "the served
model's own" (its checkpoint's `SamplingDefaults`). Only a worker has the model, so the worker that
claims the job fills them in (`with_defaults`), and from then on the record says what ran; the
job's `total` is 0 until then.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from model.pipeline_config import SamplingDefaults

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
    # (width, height) of the stored input image, which is already the size the pipeline edits at.
    size: list[int] | None = None
    # Batch-mates claimed while this job's message was handled: its redelivery re-claims them.
    batch: list[str] = field(default_factory=list)
    # How many jobs the run that finished this job edited together (1: alone).
    batch_size: int = 0
    # A digest of the request (form fields and image) that created the job, for Idempotency-Key reuse.
    fingerprint: str | None = None

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


def new_job(
    owner: str,
    params: dict[str, Any],
    seed: int,
    now: float,
    size: tuple[int, int] | None = None,
    fingerprint: str | None = None,
) -> JobRecord:
    """A queued job; `size` is its prepared input's (width, height), which makes it batchable."""
    job = JobRecord(
        id=uuid.uuid4().hex,
        owner=owner,
        params=params,
        seed=seed,
        created_at=now,
        size=list(size) if size is not None else None,
        fingerprint=fingerprint,
    )
    return with_total(job)


def with_total(job: JobRecord) -> JobRecord:
    """The job with its total set: steps across all candidates (0 while its steps are unset)."""
    return replace(job, total=(job.params["steps"] or 0) * job.candidate_count)


def sampling_params(defaults: SamplingDefaults) -> dict[str, Any]:
    """A checkpoint's sampling defaults under the names job params give them."""
    return {
        "steps": defaults.num_inference_steps,
        "guidance_scale": defaults.guidance_scale,
        "image_guidance_scale": defaults.image_guidance_scale,
    }


def with_defaults(job: JobRecord, defaults: Mapping[str, Any]) -> JobRecord:
    """The job with every sampling param its request left unset taken from `defaults` (sampling_params)."""
    unset = {name: value for name, value in defaults.items() if job.params.get(name) is None}
    return with_total(replace(job, params={**job.params, **unset})) if unset else job


def batch_key(job: JobRecord) -> tuple[int, int, int, bool, str | None] | None:
    """Jobs with equal keys can share one pipeline call; None: the job runs alone.

    One call needs one image size, one step count and one sampler. Reward guidance is in the key
    too: one job with it gives the whole batch a fourth guidance branch, a third more work for the
    others.
    Best-of-N jobs run alone (their candidates are judged one by one as they come).
    """
    if job.size is None or job.candidate_count != 1:
        return None
    width, height = job.size
    params = job.params
    return width, height, params["steps"], params["reward_guidance_scale"] != 1.0, params.get("scheduler")


def claim(
    job: JobRecord, worker: str, now: float, lease_s: float, defaults: Mapping[str, Any] | None = None
) -> JobRecord | None:
    """Start (or restart, after its worker died) a job; None when it must not run here.

    The params its request left unset are filled from `defaults`, the worker's model's
    (sampling_params).
    """
    if job.finished:
        return None
    if job.status == RUNNING and job.worker != worker and job.lease_until > now:
        return None  # a live worker holds it: this is a duplicate delivery
    return replace(
        with_defaults(job, defaults or {}),
        status=RUNNING,
        step=0,
        started_at=now,
        attempts=job.attempts + 1,
        worker=worker,
        lease_until=now + lease_s,
        candidates=[],
        chosen=None,
    )


def cover(job: JobRecord, worker: str, mates: list[str]) -> JobRecord | None:
    """List the batch-mates about to be claimed under the job whose message the worker handles.

    The job is this worker's, or already finished (its message came back after a worker died,
    and the worker now runs the batch-mates that one left behind).
    """
    if not job.finished and (job.status != RUNNING or job.worker != worker):
        return None
    return replace(job, batch=mates)


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
    batch_size: int = 1,
) -> JobRecord | None:
    """End a run with a final status; only the worker holding the job may do it, and only once."""
    if job.status != RUNNING or job.worker != worker:
        return None
    step = job.total if status == SUCCEEDED else job.step
    return replace(
        job,
        status=status,
        step=step,
        finished_at=now,
        error=error,
        lease_until=0.0,
        chosen=chosen,
        batch_size=batch_size,
    )


def renew(job: JobRecord, worker: str, now: float, lease_s: float) -> JobRecord | None:
    """Extend the lease of a job this worker runs; None when it is no longer its to run."""
    if job.status != RUNNING or job.worker != worker:
        return None
    return replace(job, lease_until=now + lease_s)


def requeue(job: JobRecord, lease_until: float) -> JobRecord | None:
    """Put an abandoned job back in the queue, if its lease is still the expired one the reaper saw.

    Its attempts stay counted; the next claim adds one.
    """
    if job.status != RUNNING or job.lease_until != lease_until:
        return None
    return replace(
        job,
        status=QUEUED,
        step=0,
        started_at=None,
        worker=None,
        lease_until=0.0,
        candidates=[],
        chosen=None,
    )


def give_up(job: JobRecord, lease_until: float, now: float, error: dict[str, str]) -> JobRecord | None:
    """Fail an abandoned job instead of running it again (it has cost too many workers already)."""
    if job.status != RUNNING or job.lease_until != lease_until:
        return None
    return replace(job, status=FAILED, finished_at=now, error=error, worker=None, lease_until=0.0)


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
