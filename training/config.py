"""The training configuration: one typed model that the YAML file and the command-line flags both fill.

Every field is a YAML key (`max_steps`) and a flag (`--max-steps`); flags override the file, the
file overrides the defaults. The defaults follow the paper (section 6.1): AdamW, lr 5e-5, weight
decay 1e-2, no warm-up, 256 px random crops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# The names of model.presets.PRESETS, spelled out so the flags and the YAML schema can list them.
PresetName = Literal["tiny", "pixel", "small", "small32", "sd15"]
# Which reward inputs the condition sees: "none" trains the no-reward baseline with the same modules.
RewardInputs = Literal["score+text", "score", "text", "none"]
# How training timesteps are drawn. "noisy": t = T (1 - u^3) for uniform u, so 79% of the draws fall
# in the noisier half, where what to draw must come from the source and the instruction; the quiet
# steps, where the noisy target itself gives the answer away, get fewer.
TimestepSampling = Literal["uniform", "noisy"]
LossWeighting = Literal["uniform", "edit", "region"]


class ConfigError(ValueError):
    """The YAML file or a flag holds an unknown key or an invalid value."""


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- data and model --------------------------------------------------------------------------
    manifest: Path = Field(description="training manifest (JSON Lines, DESIGN.md section 4)")
    init: Path | None = Field(
        None, description="checkpoint folder to start from (RewardEdit or plain InstructPix2Pix)"
    )
    preset: PresetName | None = Field(
        None, description="start from a randomly initialised preset instead of --init"
    )
    out: Path = Field(description="output folder: DIR/checkpoint-STEP, DIR/final, DIR/logs, DIR/validation")
    resolution: int = Field(256, gt=0, multiple_of=8, description="training crop size in pixels")
    random_flip: bool = Field(True, description="flip source and edited image together, half of the time")
    center_crop: bool = Field(False, description="crop the centre instead of a random window")
    num_workers: int = Field(2, ge=0, description="data loader worker processes per training process")

    # -- optimisation ----------------------------------------------------------------------------
    max_steps: int = Field(10000, gt=0, description="optimizer steps to train for")
    batch_size: int = Field(4, gt=0, description="samples per process per micro-batch")
    gradient_accumulation_steps: int = Field(1, gt=0, description="micro-batches per optimizer step")
    learning_rate: float = Field(5e-5, gt=0, description="AdamW learning rate")
    weight_decay: float = Field(1e-2, ge=0, description="AdamW weight decay")
    lr_scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = Field(
        "constant", description="learning-rate schedule over max_steps"
    )
    lr_warmup_steps: int = Field(0, ge=0, description="linear warm-up steps of the schedule")
    max_grad_norm: float = Field(1.0, gt=0, description="clip the gradient's global L2 norm to this")
    loss_weighting: LossWeighting = Field(
        "uniform",
        description="uniform: plain MSE; edit: each sample's squared error divided by how much its "
        "edit changes (mean squared source-to-target latent change, plus EDIT_WEIGHT_FLOOR), so a small "
        "local edit weighs as much as a whole-image one; region: the latent cells the edit changes "
        "(those its manifest mask covers, where the row has one) carry at least half of each sample's "
        "loss and never less than their share of the image, so a small edit's own cells weigh as much "
        "as the whole image they sit in",
    )
    timestep_sampling: TimestepSampling = Field(
        "uniform",
        description="uniform: every training timestep alike; noisy: t = T (1 - u^3), 79%% of the draws "
        "in the noisier half, where the source and the instruction must say what to draw",
    )
    instruction_dropout: float = Field(
        0.1, ge=0, le=1, description="probability of training a sample with the empty instruction"
    )
    image_dropout: float = Field(
        0.1, ge=0, le=1, description="probability of training a sample with a zero source latent"
    )
    reward_dropout: float = Field(
        0.1, ge=0, le=1, description="probability of training a sample with the learned null reward"
    )
    reward_inputs: RewardInputs | None = Field(
        None,
        description="what the reward condition sees (the paper's ablations; default: the checkpoint's)",
    )
    ema: bool = Field(False, description="keep an exponential moving average and save it as the model")
    ema_decay: float = Field(0.9999, gt=0, lt=1, description="EMA decay")
    mixed_precision: Literal["no", "fp16", "bf16"] = Field(
        "no", description="autocast the forward passes in fp16 or bf16 (weights stay fp32)"
    )
    cache_encodings: bool = Field(
        False,
        description="keep each row's VAE posterior and each text's encoder states in memory after "
        "first use (needs fixed crops: center_crop on, random_flip off)",
    )
    encoding_cache_file: Path | None = Field(
        None,
        description="also keep the cached encodings in this file, for later runs on the same manifest "
        "with the same VAE and text encoder (needs cache_encodings)",
    )
    gradient_checkpointing: bool = Field(False, description="recompute U-Net activations to save memory")
    seed: int = Field(0, description="seed of the preset weights, data order, crops, noise and dropout")

    # -- checkpoints, logs, validation -----------------------------------------------------------
    resume: bool = Field(False, description="continue from the latest DIR/checkpoint-STEP, if any")
    checkpoint_every: int = Field(500, gt=0, description="save DIR/checkpoint-STEP every N steps")
    checkpoints_total_limit: int | None = Field(
        None, gt=0, description="keep only the newest N checkpoints (default: all)"
    )
    validate_every: int = Field(500, ge=0, description="save validation edits every N steps (0: never)")
    validation_manifest: Path | None = Field(
        None, description="manifest of validation samples (default: the training manifest)"
    )
    validation_samples: int = Field(2, gt=0, description="how many manifest rows to edit at validation")
    validation_inference_steps: int = Field(20, gt=0, description="sampling steps of a validation edit")

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if (self.init is None) == (self.preset is None):
            raise ValueError("give exactly one of 'init' (a checkpoint folder) and 'preset'")
        if self.cache_encodings and (self.random_flip or not self.center_crop):
            raise ValueError("cache_encodings needs fixed crops: set center_crop and turn random_flip off")
        if self.encoding_cache_file is not None and not self.cache_encodings:
            raise ValueError("encoding_cache_file needs cache_encodings")
        return self


Config = TypeVar("Config", bound=BaseModel)


def load_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    schema: type[Config] = TrainConfig,  # type: ignore[assignment]
) -> Config:
    """Defaults, then the YAML file's keys, then `overrides` (the flags given on the command line).

    `schema` is TrainConfig for `rewardedit train`; other training commands pass their own model.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {str(path)!r}: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config {str(path)!r} must be a mapping of keys to values")
        values.update(loaded or {})
    values.update(overrides or {})
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(error) for error in exc.errors())
        source = f" in {path}" if path is not None else ""
        raise ConfigError(f"invalid training config{source}:\n  {problems}") from exc


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if not key:
        return error["msg"].removeprefix("Value error, ")
    flag = "--" + key.replace("_", "-")
    return f"{key} ({flag}): {error['msg']}"
