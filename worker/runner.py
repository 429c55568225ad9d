"""The edit task's code, the same for the Celery worker and the embedded mode.

A runner holds one pipeline (and the judge, if any), loaded once per process, and runs one job at
a time: claim the job, run the pipeline with progress and cancellation checked after every step,
then store the result and the final status in one atomic update. A failed edit (GPU out of
memory, NaN image, judge down) fails that job only; the runner keeps serving.

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

from judge import Judgements, JudgeReplyError, JudgeRequestError
from model import EditCanceled, InvalidInputError, NonFiniteImageError, RewardEditPipeline, Rewards
from model.pipeline import default_device

from .jobs import CANCELED, FAILED, SUCCEEDED, JobRecord, add_candidate, advance, claim, finish, record_stop
from .judging import (
    NOT_CONFIGURED,
    JudgeNotConfigured,
    ServiceJudge,
    judge_error,
    judgements_dict,
    weighted_score,
)
from .model_source import ModelInfo
from .settings import Settings
from .store import Change, JobStore, StoreUnavailable, input_key, result_key

logger = logging.getLogger(__name__)
SKIPPED = "skipped"
REWARD_FIELDS = tuple(field.name for field in dataclasses.fields(Rewards))
# While a candidate is being judged, how often the job is checked for cancellation (and its lease renewed).
JUDGE_POLL_S = 0.5


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


class EditRunner:
    def __init__(
        self,
        store: JobStore,
        pipeline: RewardEditPipeline,
        model: ModelInfo,
        lease_s: float,
        judge: ServiceJudge | None,
        weights: Mapping[str, float],
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.model = model
        self.lease_s = lease_s
        self.judge = judge
        self.weights = weights
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    @classmethod
    def load(
        cls, store: JobStore, settings: Settings, model: ModelInfo, judge: ServiceJudge | None
    ) -> EditRunner:
        if settings.torch_threads is not None:
            # Where processes share few cores, fewer threads run faster; results depend on the count.
            torch.set_num_threads(settings.torch_threads)
        pipeline = RewardEditPipeline.from_pretrained(model.path, device=settings.device or default_device())
        return cls(store, pipeline, model, settings.lease_s, judge, settings.judge_weights)

    def info(self) -> dict[str, Any]:
        """What this worker announces: readiness checks and /healthz show it."""
        return {"id": self.worker_id, "model": self.model.to_dict(), "device": str(self.pipeline.device)}

    def run(self, job_id: str) -> str:
        """Run one job to its final status; the outcome, or SKIPPED when it must not run here."""
        job = self.store.update(job_id, lambda j: claim(j, self.worker_id, time.time(), self.lease_s))
        if job is None:
            logger.info("job %s: skipped (unknown, expired, finished or held by a live worker)", job_id)
            return SKIPPED
        logger.info("job %s: started (attempt %d, %d steps)", job_id, job.attempts, job.total)
        started = time.perf_counter()
        error = None
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
            error = describe_failure(exc)
            logger.log(
                logging.ERROR if error["code"] == "internal_error" else logging.WARNING,
                "job %s: failed: %s",
                job_id,
                error["message"],
                exc_info=error["code"] == "internal_error",
            )
        if error is not None:
            release_memory()
            self._end(job_id, FAILED, error=error)
            return FAILED
        self._end(job_id, SUCCEEDED, put={result_key(job_id): result}, chosen=chosen)
        logger.info("job %s: succeeded in %.2f s", job_id, time.perf_counter() - started)
        return SUCCEEDED

    def _edit(self, job: JobRecord) -> tuple[bytes, int | None]:
        """The result as PNG bytes, and which candidate it is (None for a plain one-seed job)."""
        blob = self.store.get_blob(input_key(job.id))
        if blob is None:
            raise InvalidInputError("the job's input image has expired")
        with Image.open(io.BytesIO(blob)) as stored:
            source = stored.convert("RGB")
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
        params = job.params

        def on_step(step: int, total: int) -> bool:
            return self._on_step(job.id, index * total + step, job.candidate_count * total)

        try:
            output = self.pipeline(
                image=source,
                instruction=params["instruction"],
                rewards=Rewards(**{name: params[name] for name in REWARD_FIELDS}),
                num_inference_steps=params["steps"],
                guidance_scale=params["guidance_scale"],
                image_guidance_scale=params["image_guidance_scale"],
                reward_guidance_scale=params["reward_guidance_scale"],
                generator=torch.Generator().manual_seed(job.seed + index),
                max_side=params["max_side"],
                callback=on_step,
            )
        except EditCanceled as exc:
            raise EditCanceled(index * exc.total + exc.step, job.candidate_count * exc.total) from exc
        return output.images[0]

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
        """The judge's answer; meanwhile the lease is renewed, and a cancellation ends the wait."""
        while True:
            try:
                return future.result(timeout=JUDGE_POLL_S)
            except concurrent.futures.TimeoutError:
                self._keep(
                    job, lambda j: advance(j, self.worker_id, j.step, j.total, time.time(), self.lease_s)
                )

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
    ) -> None:
        ended = self.store.update(
            job_id,
            lambda j: finish(j, self.worker_id, status, time.time(), error, chosen),
            put=put,
            delete=[input_key(job_id)],
        )
        if ended is None:
            logger.info(
                "job %s: its %s outcome was dropped (canceled or taken over meanwhile)", job_id, status
            )
