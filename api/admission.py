"""What POST /edit admits: what the served model can do, a job's cost, the queue and per-key limits,
and Idempotency-Key reuse.

The limits are checked by the store in the same atomic step as the insert (store.Limits), so no
number of concurrent submissions gets past them; this module turns them into 4xx answers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from model.pipeline_config import SamplingDefaults
from worker.jobs import JobRecord
from worker.settings import Settings
from worker.store import LimitReached, Limits

from .errors import ApiError
from .schemas import EditForm

RETRY_AFTER_S = "10"


def limits(settings: Settings) -> Limits:
    return Limits(queued=settings.max_queued_jobs, per_owner=settings.per_key_limit)


def check_served_models(form: EditForm, models: list[dict[str, Any]]) -> None:
    """422 for what no served model can do, as the live workers announce it.

    With none announced yet, accept: a worker that cannot do it fails the job with `invalid_input`.
    """
    if not models:
        return
    if form.reward_guidance_scale != 1.0 and not any(model.get("reward_guidance", True) for model in models):
        raise ApiError(
            422,
            "reward_guidance_unsupported",
            "the served model has no learned null reward (the released Reward-InsPix2Pix architecture), "
            "so reward guidance cannot apply: send reward_guidance_scale=1",
        )
    supported = {name for model in models for name in model.get("samplers", [form.scheduler])}
    if form.scheduler is not None and form.scheduler not in supported:
        raise ApiError(
            422,
            "scheduler_unsupported",
            f"the served model cannot sample with {form.scheduler!r}; "
            f"it can with: {', '.join(sorted(supported))}",
        )


def expected_steps(form: EditForm, models: list[dict[str, Any]]) -> int:
    """The steps the job will run: its own, else the most a served model defaults to (with none
    announced yet, InstructPix2Pix's 30)."""
    if form.steps is not None:
        return form.steps
    announced = [model["sampling"]["steps"] for model in models if "sampling" in model]
    return max(announced, default=SamplingDefaults().num_inference_steps)


def check_cost(form: EditForm, size: tuple[int, int], max_cost: int, models: list[dict[str, Any]]) -> None:
    """422 when the job would hold a worker too long: pixels x steps x candidates over the limit."""
    width, height = size
    steps = expected_steps(form, models)
    cost = width * height * steps * form.candidates
    if cost > max_cost:
        raise ApiError(
            422,
            "job_too_large",
            f"this job is {width}x{height} px x {steps} steps x {form.candidates} candidate(s) = "
            f"{cost}; the limit is {max_cost} (pixels x steps x candidates): lower max_side, steps "
            "or candidates",
        )


def refusal(exc: LimitReached) -> ApiError:
    """The 429 for a submission the store refused."""
    if exc.limit == "per_owner":
        message = f"this API key has {exc.value} jobs queued or running, its limit; retry when one ends"
        return ApiError(429, "too_many_jobs", message, {"Retry-After": RETRY_AFTER_S})
    return ApiError(
        429, "queue_full", "too many jobs are waiting; retry later", {"Retry-After": RETRY_AFTER_S}
    )


def fingerprint(form: EditForm, image: bytes) -> str:
    """A digest of the request as sent (form fields, seed included if given, and image bytes)."""
    fields = json.dumps(form.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(fields.encode() + hashlib.sha256(image).digest()).hexdigest()


def check_replay(stored: JobRecord, job: JobRecord) -> None:
    """422 when the Idempotency-Key's job was created by another request than this one.

    Jobs stored before fingerprints were kept (no fingerprint) are returned as they were then.
    """
    if stored.id != job.id and stored.fingerprint not in (None, job.fingerprint):
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request (different fields or image); "
            "use a new key for a new request",
        )
