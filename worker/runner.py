"""The edit task's code, the same for the Celery worker and the embedded mode.

A runner holds one pipeline, loaded once per process, and runs one job at a time: claim the job,
run the pipeline with progress and cancellation checked after every step, then store the result
and the final status in one atomic update. A failed edit (GPU out of memory, NaN image) fails
that job only; the runner keeps serving.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import logging
import os
import socket
import time
import uuid
from typing import Any

import torch
from PIL import Image

from model import EditCanceled, InvalidInputError, NonFiniteImageError, RewardEditPipeline, Rewards

from .jobs import CANCELED, FAILED, SUCCEEDED, JobRecord, advance, claim, finish, record_stop
from .model_source import ModelInfo
from .settings import Settings
from .store import JobStore, StoreUnavailable, input_key, result_key

logger = logging.getLogger(__name__)
SKIPPED = "skipped"
REWARD_FIELDS = tuple(field.name for field in dataclasses.fields(Rewards))


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def describe_failure(exc: BaseException) -> dict[str, str]:
    """The job's error for a failed edit: a stable code clients can act on, and a readable message."""
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


def release_memory() -> None:
    """Free what a failed edit left behind (cached CUDA blocks after an out-of-memory error)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class EditRunner:
    def __init__(
        self, store: JobStore, pipeline: RewardEditPipeline, model: ModelInfo, lease_s: float
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.model = model
        self.lease_s = lease_s
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    @classmethod
    def load(cls, store: JobStore, settings: Settings, model: ModelInfo) -> EditRunner:
        if settings.torch_threads is not None:
            # Where processes share few cores, fewer threads run faster; results depend on the count.
            torch.set_num_threads(settings.torch_threads)
        pipeline = RewardEditPipeline.from_pretrained(model.path, device=settings.device or default_device())
        return cls(store, pipeline, model, settings.lease_s)

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
            result = self._edit(job)
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
        self._end(job_id, SUCCEEDED, put={result_key(job_id): result})
        logger.info("job %s: succeeded in %.2f s", job_id, time.perf_counter() - started)
        return SUCCEEDED

    def _edit(self, job: JobRecord) -> bytes:
        """Run the pipeline on the job's stored input; the edited image as PNG bytes."""
        blob = self.store.get_blob(input_key(job.id))
        if blob is None:
            raise InvalidInputError("the job's input image has expired")
        with Image.open(io.BytesIO(blob)) as stored:
            image = stored.convert("RGB")
        params = job.params
        output = self.pipeline(
            image=image,
            instruction=params["instruction"],
            rewards=Rewards(**{name: params[name] for name in REWARD_FIELDS}),
            num_inference_steps=params["steps"],
            guidance_scale=params["guidance_scale"],
            image_guidance_scale=params["image_guidance_scale"],
            reward_guidance_scale=params["reward_guidance_scale"],
            generator=torch.Generator().manual_seed(job.seed),
            max_side=params["max_side"],
            callback=lambda step, total: self._on_step(job.id, step, total),
        )
        buffer = io.BytesIO()
        output.images[0].save(buffer, format="PNG")
        return buffer.getvalue()

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
    ) -> None:
        ended = self.store.update(
            job_id,
            lambda j: finish(j, self.worker_id, status, time.time(), error),
            put=put,
            delete=[input_key(job_id)],
        )
        if ended is None:
            logger.info(
                "job %s: its %s outcome was dropped (canceled or taken over meanwhile)", job_id, status
            )
