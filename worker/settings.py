"""The one settings object of the service (API and workers), read from `REWARDEDIT_*` variables.

It lives in worker/ because both processes read it and a worker must not import the HTTP layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from model.rewards import PERSPECTIVES

MIB = 1024 * 1024
# Pixels x steps x candidates: a 1024x1024 edit of 128 steps, 512x512 ones of 150 steps x 3 candidates.
DEFAULT_MAX_JOB_COST = 1024 * 1024 * 128
# Jobs one CUDA worker edits together when REWARDEDIT_MAX_BATCH is unset; a CPU worker edits one at a time.
CUDA_MAX_BATCH = 8


def comma_list(value: str) -> list[str]:
    """An environment variable's comma-separated items, stripped, empty ones dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


class Settings(BaseSettings):
    """Service configuration; every field is also an environment variable `REWARDEDIT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="REWARDEDIT_", populate_by_name=True, extra="ignore")

    model_path: Path | None = Field(
        default=None,
        description="checkpoint folder; unset: the demo checkpoint shipped in model/demo_checkpoint",
    )
    device: str | None = Field(default=None, description="cpu or cuda (default: cuda when available)")
    torch_threads: int | None = Field(
        default=None, ge=1, description="CPU threads for torch in a worker (default: torch's choice)"
    )
    data_dir: Path = Field(default=Path("var"), description="job blobs, when embedded")
    broker_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REWARDEDIT_BROKER_URL", "REDIS_URL"),
        description="Redis URL of the broker and job store; unset: the embedded in-process mode",
    )
    namespace: str = Field(
        default="rewardedit",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="prefix of every Redis key and name of the Celery queue",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default=[], description="comma-separated bearer keys; empty: no authentication"
    )
    max_upload_bytes: int = Field(default=32 * MIB, ge=1024, description="largest POST /edit request body")
    max_pixels: int = Field(
        default=4096 * 4096,
        ge=64 * 64,
        description="largest input image (width x height), checked before decoding",
    )
    job_ttl_s: int = Field(default=24 * 3600, ge=60, description="how long job records and blobs are kept")
    max_queued_jobs: int = Field(default=1000, ge=1, description="submissions beyond this answer 429")
    max_jobs_per_key: int | None = Field(
        default=None,
        ge=1,
        description="with API keys: one key's queued and running jobs, beyond which it gets 429; "
        "unset: a fair share, max_queued_jobs divided by the number of keys",
    )
    max_job_cost: int = Field(
        default=DEFAULT_MAX_JOB_COST,
        ge=64 * 64,
        description="largest width x height x steps x candidates of one job (422 beyond): "
        "the default allows a 1024x1024 edit of 128 steps; lower it for CPU workers",
    )
    visibility_timeout_s: float = Field(
        default=2 * 3600,
        gt=0,
        description="an unacknowledged message is redelivered after this (a backstop: abandoned jobs "
        "are found by their lease); a redelivered job that is finished or running is skipped",
    )
    lease_s: float = Field(
        default=15,
        ge=2,
        description="a running job whose worker has not renewed its lease (twice a second, from a "
        "thread beside the edit) for this long is run again, once it has stayed so for a third of it",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="runs a job may lose to dead workers; then it fails with worker_lost",
    )
    restore_interval_s: float = Field(
        default=60, gt=0, description="how often workers restore messages past the visibility timeout"
    )
    heartbeat_s: float = Field(
        default=5, gt=0, description="how often workers announce they are alive and look for abandoned jobs"
    )
    protect_docs_and_metrics: bool = Field(
        default=False,
        description="with API keys: /docs, /redoc, /openapi.json and /metrics need a key too",
    )
    max_batch: int | None = Field(
        default=None,
        ge=1,
        description="queued jobs of one image size and step count a worker edits together "
        f"(1: one at a time); unset: {CUDA_MAX_BATCH} on CUDA, 1 on CPU",
    )
    optimize: Literal["off", "compile"] | None = Field(
        default=None,
        description="at worker start: `compile` = channels_last, fused attention projections and "
        "torch.compile of the U-Net and VAE decoder, warmed up over compile_sizes x compile_batches "
        "before the worker announces itself (minutes on a GPU); unset: compile on CUDA, off on CPU",
    )
    compile_sizes: Annotated[list[tuple[int, int]], NoDecode] = Field(
        default=[(512, 512)],
        description="comma-separated WIDTHxHEIGHT image sizes compiled at start (multiples of 8 px); "
        "other sizes run eagerly",
    )
    compile_batches: Annotated[list[Annotated[int, Field(ge=1)]], NoDecode] = Field(
        default=[],
        description="comma-separated jobs-per-batch compiled at start (a batch is padded up to the next); "
        "empty: 1, 2, 4, ... up to max_batch",
    )
    compile_reward_guidance: bool = Field(
        default=False,
        description="also compile the reward-guided shapes (a 4th U-Net branch); otherwise "
        "reward-guided jobs run eagerly and the warm-up takes half as long",
    )
    compile_mode: str = Field(
        default="reduce-overhead",
        description="torch.compile mode (reduce-overhead adds CUDA graphs; max-autotune tunes longer)",
    )
    judge: str | None = Field(
        default=None,
        description="judge for POST /score and candidates > 1: `openai` (any OpenAI-compatible "
        "chat-completions endpoint), `editreward` (an EditReward reward model in this process), or one "
        "per perspective, e.g. `following=editreward,preserving=openai,quality=editreward`; unset: no judge",
    )
    judge_base_url: str | None = Field(
        default=None, description="the judge's API root, e.g. http://vlm:8000/v1"
    )
    judge_model: str | None = Field(default=None, description="model name the judge endpoint serves")
    judge_api_key: SecretStr | None = Field(
        default=None, description="the judge endpoint's key: the variable `rewardedit label` and `eval` read"
    )
    judge_reward_model: Path | None = Field(
        default=None, description="editreward: the EditReward checkpoint folder (model.safetensors)"
    )
    judge_base_model: Path | None = Field(
        default=None,
        description="editreward: its base model folder (config, tokenizer); unset: the checkpoint folder",
    )
    judge_calibration: Path | None = Field(
        default=None,
        description="editreward: its mu -> 0-5 calibration; unset: rewardedit-calibration.json in the "
        "checkpoint folder, else an uncalibrated linear map",
    )
    judge_device: str | None = Field(
        default=None, description="editreward: cpu or cuda (default: the worker's device)"
    )
    judge_batch_size: int = Field(
        default=4, ge=1, description="editreward: candidates scored per forward pass"
    )
    judge_timeout_s: float = Field(default=60, gt=0, description="seconds per judge request")
    judge_max_retries: int = Field(default=2, ge=0, description="retries on 429, 5xx and timeouts")
    judge_concurrency: int = Field(default=8, ge=1, description="judge requests in flight per process")
    judge_weight_following: float = Field(
        default=1, ge=0, allow_inf_nan=False, description="weight of instruction following"
    )
    judge_weight_preserving: float = Field(
        default=1, ge=0, allow_inf_nan=False, description="weight of detail preserving"
    )
    judge_weight_quality: float = Field(
        default=1, ge=0, allow_inf_nan=False, description="weight of generation quality"
    )

    @field_validator("api_keys", "compile_batches", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        return comma_list(value) if isinstance(value, str) else value

    @field_validator("compile_sizes", mode="before")
    @classmethod
    def _split_sizes(cls, value: object) -> object:
        return [tuple(size.split("x", 1)) for size in comma_list(value)] if isinstance(value, str) else value

    @field_validator("compile_sizes")
    @classmethod
    def _sizes_in_multiples_of_8(cls, value: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for width, height in value:
            if width % 8 or height % 8 or min(width, height) < 64:
                raise ValueError(f"{width}x{height}: sides must be multiples of 8 and at least 64 px")
        return value

    @model_validator(mode="after")
    def _lease_within_visibility(self) -> Settings:
        # A redelivered job whose previous lease is still valid is skipped, so the lease must end first.
        if self.lease_s >= self.visibility_timeout_s:
            raise ValueError("lease_s must be shorter than visibility_timeout_s")
        return self

    @model_validator(mode="after")
    def _some_weight(self) -> Settings:
        if sum(self.judge_weights.values()) <= 0:
            raise ValueError("at least one judge_weight_* must be positive")
        return self

    @property
    def embedded(self) -> bool:
        return not self.broker_url

    @property
    def per_key_limit(self) -> int | None:
        """One key's queued and running jobs at most; None without keys (everyone is one owner)."""
        if not self.api_keys:
            return None
        return self.max_jobs_per_key or max(1, -(-self.max_queued_jobs // len(self.api_keys)))

    @property
    def judge_weights(self) -> dict[str, float]:
        """Weights of the judge's three scores when picking the best of several candidates."""
        return {name: getattr(self, f"judge_weight_{name}") for name in PERSPECTIVES}

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
