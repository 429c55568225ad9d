"""POST /edit and the /jobs/{id} endpoints: submit, look, fetch the result, follow, cancel."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from worker.backend import Backend
from worker.jobs import CANCELED, FINAL, QUEUED, SUCCEEDED, JobRecord, cancel, new_job
from worker.judging import NOT_CONFIGURED, ServiceJudge
from worker.settings import Settings
from worker.store import JobStore, LimitReached, StoreUnavailable, input_key, result_key

from ..admission import check_cost, check_replay, check_served_models, fingerprint, limits, refusal
from ..dependencies import OwnedJob, Owner, Store, get_backend, get_judge, get_settings, require_multipart
from ..errors import ApiError
from ..images import prepare_upload
from ..schemas import EditForm, ErrorBody, Job
from ..watch import preferred_wait, watch
from .health import served_models

logger = logging.getLogger(__name__)
router = APIRouter(tags=["jobs"])

SEED_RANGE = 2**32
SSE_KEEPALIVE_S = 15
ERRORS = {status: {"model": ErrorBody} for status in (401, 404, 422)}
SUBMIT_ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 413, 415, 422, 429, 503)}


def job_view(store: JobStore, job: JobRecord) -> Job:
    return Job.from_record(job, store.queue_position(job.id) if job.status == QUEUED else None)


def dispatch(backend: Backend, job_id: str) -> None:
    """Hand the stored job to the workers, or leave it to the reapers if the broker just went down.

    The job is stored by then, marked unsent until its message is: the workers' reapers send it
    once the broker is back, and its client gets the job's id either way.
    """
    try:
        backend.submit(job_id)
    except StoreUnavailable as exc:
        logger.warning(
            "job %s: stored, but its message is not sent yet (%s); a reaper will send it", job_id, exc
        )


async def answer(store: JobStore, job: JobRecord, wait: int | None) -> JSONResponse:
    """The submitted job's JSON: 200 once finished within `wait` seconds, else 202.

    The job exists by now, so nothing here may fail the request: a store outage meanwhile only
    leaves the answer as stale as the last record read.
    """
    headers = {"Location": f"/jobs/{job.id}"}
    try:
        if wait is not None:
            headers["Preference-Applied"] = f"wait={wait}"
            job_id = job.id
            async for current in watch(
                lambda: store.get(job_id), lambda j: j.status, lambda j: j.finished, wait
            ):
                job = current
        view = await run_in_threadpool(job_view, store, job)
    except StoreUnavailable as exc:
        logger.warning("job %s: answering with its last known state: %s", job.id, exc)
        view = Job.from_record(job, None)
    status = 200 if wait is not None and view.status in FINAL else 202
    return JSONResponse(view.model_dump(mode="json"), status_code=status, headers=headers)


@router.post(
    "/edit",
    status_code=202,
    response_model=Job,
    responses={200: {"model": Job, "description": "finished within `Prefer: wait=N`"}, **SUBMIT_ERRORS},
    dependencies=[Depends(require_multipart)],
    summary="Submit an edit job",
)
async def submit_edit(
    request: Request,
    form: Annotated[EditForm, Form()],
    image: Annotated[UploadFile, File(description="the source image: PNG, JPEG or WebP")],
    owner: Owner,
    settings: Annotated[Settings, Depends(get_settings)],
    backend: Annotated[Backend, Depends(get_backend)],
    judge: Annotated[ServiceJudge | None, Depends(get_judge)],
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=200, description="retries with the same key get the same job"),
    ] = None,
    prefer: Annotated[
        str | None, Header(description="`wait=N`: answer 200 if done within N s (N <= 60)")
    ] = None,
) -> JSONResponse:
    store = backend.store
    wait = preferred_wait(prefer)
    if form.candidates > 1 and judge is None:
        raise ApiError(
            422, NOT_CONFIGURED, "candidates > 1 needs a judge, and this service has none; send candidates=1"
        )
    models = await run_in_threadpool(served_models, backend)
    check_served_models(form, models)
    data = await image.read()
    source, size = await run_in_threadpool(prepare_upload, data, form.max_side, settings.max_pixels)
    check_cost(form, size, settings.max_job_cost, models)
    seed = form.seed if form.seed is not None else secrets.randbelow(SEED_RANGE)
    job = new_job(owner, form.model_dump(exclude={"seed"}), seed, time.time(), size, fingerprint(form, data))
    blobs = {input_key(job.id): source}
    try:
        stored = await run_in_threadpool(store.insert, job, blobs, idempotency_key, limits(settings))
    except LimitReached as exc:
        raise refusal(exc) from exc
    check_replay(stored, job)
    if stored.id == job.id:
        await run_in_threadpool(dispatch, backend, job.id)
        request.app.state.metrics.submitted.inc()
    return await answer(store, stored, wait)


@router.get("/jobs/{job_id}", response_model=Job, responses=ERRORS, summary="A job's status and progress")
def get_job(job: OwnedJob, store: Store) -> Job:
    return job_view(store, job)


@router.get(
    "/jobs/{job_id}/result",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 409: {"model": ErrorBody}, **ERRORS},
    summary="The edited image (PNG)",
)
def get_result(job: OwnedJob, store: Store) -> Response:
    if job.status != SUCCEEDED:
        if job.finished:
            raise ApiError(409, "job_has_no_result", f"the job {job.status}; it has no result")
        raise ApiError(409, "job_not_finished", f"the job is {job.status}; wait until it has succeeded")
    png = store.get_blob(result_key(job.id))
    if png is None:
        raise ApiError(404, "result_expired", "the result has expired")
    return Response(
        png, media_type="image/png", headers={"Content-Disposition": f'inline; filename="{job.id}.png"'}
    )


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    summary="Server-sent events: the job JSON on every status or progress change, until it ends",
)
async def job_events(job: OwnedJob, store: Store) -> StreamingResponse:
    def fetch() -> Job | None:
        current = store.get(job.id)
        return job_view(store, current) if current is not None else None

    async def events():
        yield "retry: 1000\n\n"
        number = 0
        try:
            async for view in watch(
                fetch,
                key=lambda v: (v.status, v.progress.step, v.queue_position, len(v.candidates)),
                done=lambda v: v.status in FINAL,
                repeat_after_s=SSE_KEEPALIVE_S,
            ):
                number += 1
                yield f"id: {number}\ndata: {view.model_dump_json()}\n\n"
        except StoreUnavailable as exc:  # the stream ends; the client reconnects after `retry`
            logger.warning("job %s: event stream ended: %s", job.id, exc)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.delete(
    "/jobs/{job_id}",
    response_model=Job,
    responses={409: {"model": ErrorBody}, **ERRORS},
    summary="Cancel a job: a queued one never runs, a running one stops at its next step",
)
def cancel_job(job: OwnedJob, store: Store) -> Job:
    canceled = store.update(job.id, lambda j: cancel(j, time.time()), delete=[input_key(job.id)])
    if canceled is None:
        canceled = store.get(job.id) or job
        if canceled.status != CANCELED:
            raise ApiError(409, "job_finished", f"the job already {canceled.status}")
    return job_view(store, canceled)
