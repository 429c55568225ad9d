"""The edit task's code, the same for the Celery worker and the embedded mode.

A runner holds one pipeline (and the judge, if any), loaded once per process, and runs one job at
a time: claim the job, run the pipeline with progress and cancellation checked after every step,
then store the result and the final status in one atomic update. A failed edit (GPU out of
memory, NaN image, judge down) fails that job only; the runner keeps serving. While it holds
jobs, a thread renews their leases (leases.py); on an eager pipeline, a canceled job also stops
inside a step (interrupt.py).

With max_batch > 1, starting a job also claims up to max_batch - 1 compatible queued jobs (same
image size and step count, see jobs.batch_key) and edits them in one `edit_batch` call, each with
its own seed, reward and guidance, each finished with its own result. How that stays exactly-once
when workers die is in jobs.py and `_claim`.

A job with N candidates edits seeds seed, seed+1, ... in turn; each edit is judged while the next
one runs, and the best by the weighted sum of the judge's scores is the result.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import gc
import io
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

import torch
from PIL import Image

from judge import Judgements, JudgeReplyError, JudgeRequestError, weighted_score
from model import (
    EditCanceled,
    EditRequest,
    InvalidInputError,
    NonFiniteImageError,
    RewardEditPipeline,
    Rewards,
)
from model.optimize import Buckets, compile_buckets, default_batches, optimize, restore
from model.pipeline import RewardEditPipelineOutput, StepCallback, default_device
from model.schedulers import supported_samplers

from .interrupt import MidStepStop
from .jobs import (
    CANCELED,
    FAILED,
    SUCCEEDED,
    JobRecord,
    add_candidate,
    advance,
    batch_key,
    claim,
    cover,
    finish,
    record_stop,
    sampling_params,
    with_defaults,
)
from .judging import (
    NOT_CONFIGURED,
    JudgeNotConfigured,
    ServiceJudge,
    judge_error,
    judgements_dict,
)
from .leases import LeaseKeeper
from .model_source import ModelInfo
from .settings import CUDA_MAX_BATCH, Settings
from .store import Change, JobStore, StoreUnavailable, input_key, result_key

logger = logging.getLogger(__name__)
SKIPPED = "skipped"
REWARD_FIELDS = tuple(field.name for field in dataclasses.fields(Rewards))
# While a candidate is being judged, how often the job is checked for cancellation.
JUDGE_POLL_S = 0.5
# How many queued jobs, oldest first, a worker looks through for batch-mates of the job it starts.
BATCH_SCAN = 256


def describe_failure(exc: BaseException) -> dict[str, str]:
    """The job's error for a failed edit: a stable code clients can act on, and a readable message."""
    if isinstance(exc, (JudgeRequestError, JudgeReplyError)):  # first: a reply may say "out of memory"
        return judge_error(exc)
    if isinstance(exc, JudgeNotConfigured):
        return {"code": NOT_CONFIGURED, "message": str(exc)}
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return {
            "code": "out_of_memory",
            "message": "the GPU ran out of memory for this edit; try a smaller max_side",
        }
    if isinstance(exc, NonFiniteImageError):
        return {"code": "non_finite_image", "message": f"the model produced an unusable image: {exc}"}
    if isinstance(exc, InvalidInputError):
        return {"code": "invalid_input", "message": str(exc)}
    return {"code": "internal_error", "message": f"the edit failed unexpectedly ({type(exc).__name__})"}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def release_memory() -> None:
    """Free what a failed edit left behind (cached CUDA blocks after an out-of-memory error)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def optimize_pipeline(pipeline: RewardEditPipeline, settings: Settings, max_batch: int) -> dict[str, Any]:
    """Optimise as `settings.optimize` says (default: compile on CUDA, off on CPU); what was done.

    A compilation that fails leaves the worker serving the plain eager modules, with the error
    logged and announced: a worker that cannot compile (no C compiler in the image, say) still
    takes jobs.
    """
    level = settings.optimize or ("compile" if pipeline.device.type == "cuda" else "off")
    if level == "off":
        return {"level": "off"}
    buckets = Buckets(
        tuple(settings.compile_sizes),
        tuple(settings.compile_batches) or default_batches(max_batch),
        reward_guidance=settings.compile_reward_guidance,
    )
    optimize(pipeline)
    try:
        seconds = compile_buckets(pipeline, buckets, settings.compile_mode)
    except Exception as exc:
        logger.exception("compiling failed; this worker serves the plain eager modules")
        restore(pipeline)
        return {"level": "off", "compile_error": f"{type(exc).__name__}: {exc}"}
    return {
        "level": "compile",
        "sizes": [f"{width}x{height}" for width, height in buckets.sizes],
        "batches": list(buckets.batches),
        "reward_guidance": settings.compile_reward_guidance,
        "mode": settings.compile_mode,
        "warmup_s": round(seconds, 1),
    }


class EditRunner:
    def __init__(
        self,
        store: JobStore,
        pipeline: RewardEditPipeline,
        model: ModelInfo,
        lease_s: float,
        judge: ServiceJudge | None,
        weights: Mapping[str, float],
        max_batch: int = 1,
        optimization: Mapping[str, Any] | None = None,
        mid_step: MidStepStop | None = None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.model = model
        self.lease_s = lease_s
        self.judge = judge
        self.weights = weights
        self.max_batch = max_batch
        self.optimization = dict(optimization or {"level": "off"})
        self.mid_step = mid_step
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.sampling = sampling_params(pipeline.sampling_defaults)  # fills what requests leave unset
        self.keeper: LeaseKeeper | None = None  # the leases of the jobs run() holds now

    @classmethod
    def load(
        cls, store: JobStore, settings: Settings, model: ModelInfo, judge: ServiceJudge | None
    ) -> EditRunner:
        """Load the model once, optimise it as the settings say (compiling before the worker is ready)."""
        if settings.torch_threads is not None:
            # Where processes share few cores, fewer threads run faster; results depend on the count.
            torch.set_num_threads(settings.torch_threads)
        pipeline = RewardEditPipeline.from_pretrained(model.path, device=settings.device or default_device())
        on_cuda = pipeline.device.type == "cuda"
        max_batch = settings.max_batch or (CUDA_MAX_BATCH if on_cuda else 1)
        optimization = optimize_pipeline(pipeline, settings, max_batch)
        mid_step = MidStepStop(pipeline) if optimization["level"] == "off" else None
        return cls(
            store,
            pipeline,
            model,
            settings.lease_s,
            judge,
            settings.judge_weights,
            max_batch,
            optimization,
            mid_step,
        )

    def info(self) -> dict[str, Any]:
        """What this worker announces: readiness checks and /healthz show it."""
        return {
            "id": self.worker_id,
            # What the API checks a request against before queueing it (reward guidance, samplers).
            "model": {
                **self.model.to_dict(),
                "reward_guidance": self.pipeline.components.reward.has_null_condition,
                "samplers": supported_samplers(self.pipeline.components.scheduler),
                "sampling": self.sampling,
            },
            "device": str(self.pipeline.device),
            "max_batch": self.max_batch,
            "optimization": self.optimization,
        }

    def run(self, job_id: str) -> str:
        """Run the job, and compatible queued ones with it, to their final status.

        The outcome of this job, or SKIPPED when it must not run here (unknown, expired, finished, or
        held by a live worker: a duplicate delivery, or a batch-mate another worker already took).
        """
        jobs = self._claim(job_id)
        if not jobs:
            logger.info("job %s: skipped (unknown, expired, finished or held by a live worker)", job_id)
            return SKIPPED
        self.keeper = LeaseKeeper(self.store, self.worker_id, self.lease_s, [job.id for job in jobs])
        with self.keeper:
            outcomes = {jobs[0].id: self._run_alone(jobs[0])} if len(jobs) == 1 else self._run_batch(jobs)
        return outcomes.get(job_id, SKIPPED)

    def _claim(self, job_id: str) -> list[JobRecord]:
        """Claim the job, the batch-mates its message covers that a dead worker left, and queued mates.

        Each claim is one atomic transition of one record, so a job is held by one worker at a time;
        the batch-mates are listed on this job (`cover`) before they are claimed, so that this
        job's message, acknowledged only after the whole batch, can bring them back (jobs.py).
        """
        job = self._claim_one(job_id)
        if job is None:
            job = self.store.get(job_id)
            if job is None or not job.finished:
                return []  # unknown, expired, or held by a live worker
        covered = list(job.batch)
        jobs = [job] if not job.finished else []
        jobs += self._claim_each(covered)
        key = batch_key(jobs[0]) if jobs else None
        room = self.max_batch - len(jobs)
        if key is None or room <= 0:
            return jobs
        held = {job_id, *covered}
        mates = [
            j.id
            for j in self.store.queued(BATCH_SCAN)
            if j.id not in held and batch_key(with_defaults(j, self.sampling)) == key
        ]
        if not mates[:room]:
            return jobs
        if self.store.update(job_id, lambda j: cover(j, self.worker_id, covered + mates[:room])) is None:
            return jobs  # canceled or taken over meanwhile: claim nothing more under it
        return jobs + self._claim_each(mates[:room])

    def _claim_each(self, job_ids: list[str]) -> list[JobRecord]:
        claimed = (self._claim_one(job_id) for job_id in job_ids)
        return [job for job in claimed if job is not None]

    def _claim_one(self, job_id: str) -> JobRecord | None:
        def start(job: JobRecord) -> JobRecord | None:
            return claim(job, self.worker_id, time.time(), self.lease_s, self.sampling)

        return self.store.update(job_id, start)

    def _run_alone(self, job: JobRecord) -> str:
        """Run one claimed job (a best-of-N one with its judge) to its final status."""
        job_id = job.id
        logger.info("job %s: started (attempt %d, %d steps)", job_id, job.attempts, job.total)
        started = time.perf_counter()
        try:
            result, chosen = self._edit(job)
        except EditCanceled as exc:
            stopped_at = exc.step
            self.store.update(job_id, lambda j: record_stop(j, self.worker_id, stopped_at))
            logger.info("job %s: canceled, stopped after step %d of %d", job_id, stopped_at, exc.total)
            return CANCELED
        except StoreUnavailable:
            raise
        except Exception as exc:
            self._end(job_id, FAILED, error=self._failure(job_id, exc))
            return FAILED
        self._end(job_id, SUCCEEDED, put={result_key(job_id): result}, chosen=chosen)
        logger.info("job %s: succeeded in %.2f s", job_id, time.perf_counter() - started)
        return SUCCEEDED

    def _run_batch(self, jobs: list[JobRecord]) -> dict[str, str]:
        """Run claimed jobs of one batch key in one pipeline call; each job's outcome by id.

        A canceled job cannot leave the batch mid-loop: it is marked canceled at once and stops
        counting, its image is computed with the others and dropped. The call stops early only
        when every job in it is canceled. If the call fails, its jobs run again one at a time, so
        a failure (out of memory, a NaN image) fails only the job that causes it.
        """
        outcomes: dict[str, str] = {}
        members: list[JobRecord] = []
        requests: list[EditRequest] = []
        for job in jobs:
            source = self._source(job)
            if source is None:
                error = self._failure(job.id, InvalidInputError("the job's input image has expired"))
                self._end(job.id, FAILED, error=error)
                outcomes[job.id] = FAILED
                continue
            members.append(job)
            requests.append(self._request(job, source, 0))
        if not members:
            return outcomes
        active = {job.id for job in members}

        def on_step(step: int, total: int) -> bool:
            for job in members:
                if job.id in active and not self._on_step(job.id, step, total):
                    active.discard(job.id)  # canceled (or taken over): it stops counting now
                    self.store.update(job.id, lambda j: record_stop(j, self.worker_id, step))
            return bool(active)

        ids = " ".join(job.id for job in members)
        logger.info("batch of %d: started (%s, %d steps)", len(members), ids, jobs[0].params["steps"])
        started = time.perf_counter()
        try:
            output = self._edit_call(members[0], requests, on_step, active)
        except EditCanceled as exc:
            stopped_at = exc.step
            for job in members:
                if job.id in active:  # stopped inside a step: the callback did not record where
                    self.store.update(job.id, lambda j: record_stop(j, self.worker_id, stopped_at))
            logger.info("batch of %d: every job in it was canceled", len(members))
            return {**outcomes, **{job.id: CANCELED for job in members}}
        except StoreUnavailable:
            raise
        except Exception as exc:
            logger.warning("batch of %d failed (%s); running its jobs one at a time", len(members), exc)
            release_memory()
            return {
                **outcomes,
                **{job.id: self._run_alone(job) if job.id in active else CANCELED for job in members},
            }
        for job, image in zip(members, output.images, strict=True):
            if job.id in active:
                self._end(job.id, SUCCEEDED, put={result_key(job.id): png(image)}, batch_size=len(members))
            outcomes[job.id] = SUCCEEDED if job.id in active else CANCELED
        logger.info("batch of %d: done in %.2f s", len(members), time.perf_counter() - started)
        return outcomes

    def _failure(self, job_id: str, exc: Exception) -> dict[str, str]:
        """The job's error for exc, logged (with the traceback when it is a bug)."""
        error = describe_failure(exc)
        internal = error["code"] == "internal_error"
        logger.log(
            logging.ERROR if internal else logging.WARNING,
            "job %s: failed: %s",
            job_id,
            error["message"],
            exc_info=exc if internal else None,
        )
        release_memory()
        return error

    def _source(self, job: JobRecord) -> Image.Image | None:
        """The job's stored input image (already at the size it is edited at), or None once expired."""
        blob = self.store.get_blob(input_key(job.id))
        if blob is None:
            return None
        with Image.open(io.BytesIO(blob)) as stored:
            return stored.convert("RGB")

    def _edit(self, job: JobRecord) -> tuple[bytes, int | None]:
        """The result as PNG bytes, and which candidate it is (None for a plain one-seed job)."""
        source = self._source(job)
        if source is None:
            raise InvalidInputError("the job's input image has expired")
        count = job.candidate_count
        if count == 1:
            return png(self._sample(job, source, 0)), None
        if self.judge is None:
            raise JudgeNotConfigured(
                "candidates > 1 needs a judge, and this worker has none (REWARDEDIT_JUDGE)"
            )
        images: list[Image.Image] = []
        judging: list[concurrent.futures.Future[Judgements]] = []
        try:
            for index in range(count):
                images.append(self._sample(job, source, index))
                judging.append(self.judge.submit(source, images[-1], job.params["instruction"]))
            chosen = self._choose(job, judging)
        finally:
            for future in judging:
                future.cancel()  # a no-op unless this job stopped early
        return png(images[chosen]), chosen

    def _sample(self, job: JobRecord, source: Image.Image, index: int) -> Image.Image:
        """Candidate `index` (seed + index), with its steps counted after the earlier candidates'."""

        def on_step(step: int, total: int) -> bool:
            return self._on_step(job.id, index * total + step, job.candidate_count * total)

        request = self._request(job, source, index)
        try:
            output = self._edit_call(job, [request], on_step, {job.id})
        except EditCanceled as exc:
            raise EditCanceled(index * exc.total + exc.step, job.candidate_count * exc.total) from exc
        return output.images[0]

    def _edit_call(
        self, job: JobRecord, requests: list[EditRequest], on_step: StepCallback, job_ids: set[str]
    ) -> RewardEditPipelineOutput:
        """One pipeline call at the job's steps and size; EditCanceled once on_step says so after a step.

        With mid-step stops, it also ends inside a step as soon as every job of job_ids is lost.
        """
        steps, max_side = job.params["steps"], job.params["max_side"]
        scheduler = job.params.get("scheduler")  # absent from jobs queued before samplers existed
        if self.mid_step is None:
            return self.pipeline.edit_batch(requests, steps, max_side, callback=on_step, scheduler=scheduler)

        def lost() -> bool:
            return bool(job_ids) and all(self.keeper.lost(job_id) for job_id in job_ids)

        with self.mid_step.arm(lost, steps):
            callback = self.mid_step.tracking(on_step)
            return self.pipeline.edit_batch(requests, steps, max_side, callback=callback, scheduler=scheduler)

    @staticmethod
    def _request(job: JobRecord, source: Image.Image, index: int) -> EditRequest:
        """The pipeline request for candidate `index` of the job (seed + index)."""
        params = job.params
        return EditRequest(
            image=source,
            instruction=params["instruction"],
            rewards=Rewards(**{name: params[name] for name in REWARD_FIELDS}),
            guidance_scale=params["guidance_scale"],
            image_guidance_scale=params["image_guidance_scale"],
            reward_guidance_scale=params["reward_guidance_scale"],
            generator=torch.Generator().manual_seed(job.seed + index),
        )

    def _choose(self, job: JobRecord, judging: list[concurrent.futures.Future[Judgements]]) -> int:
        """Record each candidate's judgements as they come; the index of the best weighted score.

        An unreadable reply costs only its candidate; an unreachable judge fails the job.
        """
        scores: list[float | None] = []
        failure: JudgeReplyError | None = None
        for index, future in enumerate(judging):
            candidate: dict[str, Any] = {"seed": job.seed + index}
            try:
                judgements = self._wait(job, future)
            except JudgeReplyError as exc:
                logger.warning("job %s: candidate %d not judged: %s", job.id, index, exc)
                failure = exc
                candidate.update(judgements=None, weighted_score=None, error=judge_error(exc))
            except JudgeRequestError as exc:
                logger.warning("job %s: %s", job.id, exc)  # the job's error leaves the judge's URL out
                raise
            else:
                score = weighted_score(judgements, self.weights)
                candidate.update(judgements=judgements_dict(judgements), weighted_score=score, error=None)
            scores.append(candidate["weighted_score"])
            self._record(job, candidate)
        judged = [index for index, score in enumerate(scores) if score is not None]
        if not judged:
            raise failure
        return max(judged, key=lambda index: scores[index])  # the first of equals: the lowest seed

    def _wait(self, job: JobRecord, future: concurrent.futures.Future[Judgements]) -> Judgements:
        """The judge's answer; a cancellation (which the lease keeper notices) ends the wait."""
        while True:
            try:
                return future.result(timeout=JUDGE_POLL_S)
            except concurrent.futures.TimeoutError:
                if self.keeper.lost(job.id):
                    raise EditCanceled(job.total, job.total) from None

    def _record(self, job: JobRecord, candidate: dict[str, Any]) -> None:
        self._keep(job, lambda j: add_candidate(j, self.worker_id, candidate, time.time(), self.lease_s))

    def _keep(self, job: JobRecord, change: Change) -> None:
        """Apply a change to a job whose edits are done; EditCanceled if it is no longer ours to run."""
        if self.store.update(job.id, change) is None:
            raise EditCanceled(job.total, job.total)

    def _on_step(self, job_id: str, step: int, total: int) -> bool:
        """Write progress; False (canceled, or taken over by another worker) stops the pipeline."""
        renewed = self.store.update(
            job_id, lambda j: advance(j, self.worker_id, step, total, time.time(), self.lease_s)
        )
        return renewed is not None

    def _end(
        self,
        job_id: str,
        status: str,
        error: dict[str, str] | None = None,
        put: dict[str, bytes] | None = None,
        chosen: int | None = None,
        batch_size: int = 1,
    ) -> None:
        ended = self.store.update(
            job_id,
            lambda j: finish(j, self.worker_id, status, time.time(), error, chosen, batch_size),
            put=put,
            delete=[input_key(job_id)],
        )
        if ended is None:
            logger.info(
                "job %s: its %s outcome was dropped (canceled or taken over meanwhile)", job_id, status
            )
