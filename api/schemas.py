"""Request and response bodies, with the field bounds of DESIGN.md section 3."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from model.image import DEFAULT_MAX_SIDE, MIN_SIDE
from model.rewards import MAX_SCORE, MAX_TEXT_CHARS, MIN_SCORE, NO_PROBLEM
from model.schedulers import SAMPLERS
from worker.jobs import JobRecord

MAX_INSTRUCTION_CHARS = 1000
MAX_STEPS = 150
MAX_SIDE_LIMIT = 1024
MAX_SEED = 2**63 - 1
MAX_CANDIDATES = 8


def _score(name: str) -> Any:
    return Field(
        default=MAX_SCORE,
        ge=MIN_SCORE,
        le=MAX_SCORE,
        allow_inf_nan=False,
        description=f"wanted {name} score, {MIN_SCORE:g} (worst) to {MAX_SCORE:g} (best)",
    )


def _text(name: str) -> Any:
    return Field(
        default=NO_PROBLEM,
        max_length=MAX_TEXT_CHARS,
        description=f"what should be wrong in {name} ({NO_PROBLEM!r}: nothing)",
    )


def _scale(default: float | None, upper: float, what: str) -> Any:
    return Field(default=default, ge=0, le=upper, allow_inf_nan=False, description=what)


# Steps and guidance left unset are the served model's own: what its checkpoint's rewardedit.json
# names, else InstructPix2Pix's 30 steps at 7.5 / 1.5. The worker fills them in (worker/jobs.py).
MODEL_DEFAULT = "; default: the served model's own ({} unless its checkpoint names another)"


class InstructionForm(BaseModel):
    """The instruction, as POST /edit and POST /score take it."""

    instruction: str = Field(
        min_length=1, max_length=MAX_INSTRUCTION_CHARS, description="e.g. 'make the sky purple'"
    )

    @field_validator("instruction")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class EditParams(InstructionForm):
    """The edit a job runs (everything but the seed, which the job shows on its own)."""

    following: float = _score("instruction following")
    preserving: float = _score("detail preserving")
    quality: float = _score("generation quality")
    following_text: str = _text("instruction following")
    preserving_text: str = _text("detail preserving")
    quality_text: str = _text("generation quality")
    steps: int | None = Field(
        default=None, ge=1, le=MAX_STEPS, description="denoising steps" + MODEL_DEFAULT.format(30)
    )
    guidance_scale: float | None = _scale(None, 30, "instruction guidance" + MODEL_DEFAULT.format(7.5))
    image_guidance_scale: float | None = _scale(None, 10, "source image guidance" + MODEL_DEFAULT.format(1.5))
    reward_guidance_scale: float = _scale(1.0, 10, "reward guidance (1: off)")
    scheduler: Literal[tuple(SAMPLERS)] | None = Field(  # type: ignore[valid-type]
        default=None, description="sampler (default: the one the checkpoint's scheduler/ folder names)"
    )
    max_side: int = Field(
        default=DEFAULT_MAX_SIDE,
        ge=MIN_SIDE,
        le=MAX_SIDE_LIMIT,
        description="long side of the edited image, px",
    )
    candidates: int = Field(
        default=1,
        ge=1,
        le=MAX_CANDIDATES,
        description="seeds to edit (seed, seed+1, ...); the judge keeps the best (> 1 needs a judge)",
    )


class EditForm(EditParams):
    """The form fields of POST /edit besides the image file."""

    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="default: a random seed")


class Progress(BaseModel):
    step: int
    total: int


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class JudgementBody(BaseModel):
    verdict: bool = Field(description="whether the edit passes from this perspective")
    score: float = Field(description=f"{MIN_SCORE:g} (worst) to {MAX_SCORE:g} (best)")
    text: str = Field(description=f"what went wrong ({NO_PROBLEM!r}: nothing)")
    raw: float | None = Field(
        default=None,
        exclude_if=lambda raw: raw is None,
        description="the judge's own unbounded score behind `score` (a reward model's mu, e.g. "
        "EditReward's); absent for judges that answer 0-5 directly",
    )


class JudgementsBody(BaseModel):
    """The judge's view of an edit from the three perspectives (POST /score's answer)."""

    following: JudgementBody
    preserving: JudgementBody
    quality: JudgementBody


class Candidate(BaseModel):
    """One seed of a best-of-N job, as judged."""

    seed: int
    judgements: JudgementsBody | None = Field(description="null when the judge's reply could not be read")
    weighted_score: float | None = Field(
        description="the weighted sum of the three scores over the weights' total (0-5); the best is chosen"
    )
    chosen: bool = Field(description="this candidate is the job's result")
    error: ErrorDetail | None


JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]


class Job(BaseModel):
    id: str
    status: JobStatus
    progress: Progress
    queue_position: int | None = Field(description="1 for the next job to start; null unless queued")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    params: EditParams
    seed: int
    attempts: int = Field(
        description="runs started so far: 1 normally, more when a worker died running it and it ran again"
    )
    error: ErrorDetail | None
    result_url: str | None
    candidates: list[Candidate] = Field(
        description="with candidates > 1: each judged candidate in seed order, once judged; else empty"
    )

    @classmethod
    def from_record(cls, job: JobRecord, queue_position: int | None) -> Job:
        return cls(
            id=job.id,
            status=job.status,
            progress=Progress(step=job.step, total=job.total),
            queue_position=queue_position,
            created_at=_time(job.created_at),
            started_at=_time(job.started_at),
            finished_at=_time(job.finished_at),
            params=EditParams(**job.params),
            seed=job.seed,
            attempts=job.attempts,
            error=ErrorDetail(**job.error) if job.error else None,
            result_url=f"/jobs/{job.id}/result" if job.status == "succeeded" else None,
            candidates=[
                Candidate(**candidate, chosen=index == job.chosen)
                for index, candidate in enumerate(job.candidates)
            ],
        )


def _time(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=timezone.utc)


class Health(BaseModel):
    status: Literal["ok"]
    mode: Literal["embedded", "broker"]
    broker: Literal["reachable", "unreachable"] | None = Field(
        description="whether Redis answers now (the broker mode); null in the embedded mode"
    )
    models: list[dict[str, Any]] = Field(description="the checkpoints the live workers serve")
    notice: str | None = Field(description="what to know about the served models, e.g. the demo's limits")


class Ready(BaseModel):
    status: Literal["ready"]
    workers: int
