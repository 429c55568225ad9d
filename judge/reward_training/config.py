"""`rewardedit train-reward`'s configuration: one pydantic model for the YAML file and the flags.

Every field is a YAML key (`max_steps`) and a flag (`--max-steps`); flags override the file. The
defaults are the release's recipe (EditReward/config/EditReward-Qwen2.5-7B-VL.yaml): full
fine-tune, lr 2e-6, constant schedule after a 5% warm-up, 2 pairs per device x 4 accumulation
steps, 10 epochs, the uncertainty loss on the mean of the two heads; bf16 and gradient
checkpointing are the release's on GPUs and are opt-in here (they need CUDA / cost time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .losses import RAO_KUPPER_THETA

Mode = Literal["overall", "per-dimension"]
TrainShape = Literal["tiny", "small"]


class RewardTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- data ------------------------------------------------------------------------------------
    train_pairs: Path = Field(
        description="preference pairs: the release's training JSON, an EditReward-Data .parquet, or a "
        "folder of .parquet files"
    )
    image_root: Path | None = Field(
        None, description="folder the pairs' relative image paths start from (default: the file's folder)"
    )
    eval_pairs: Path | None = Field(
        None, description="held-out pairs: tie-calibrated accuracy per dimension is logged every eval_every"
    )
    eval_every: int = Field(
        0, ge=0, description="evaluate on eval_pairs every N steps and at the end (0: end only)"
    )
    eval_limit: int | None = Field(None, gt=0, description="evaluate on the first N eval pairs only")

    # -- model -----------------------------------------------------------------------------------
    base_model: Path | None = Field(
        None,
        description="base model folder (config, tokenizer, chat template, preprocessor config); its weights, "
        "if it holds any, start the backbone (the release starts from Qwen2.5-VL-7B-Instruct)",
    )
    init: Path | None = Field(
        None, description="reward checkpoint (model.safetensors) to start from instead of the base weights"
    )
    shape: TrainShape | None = Field(
        None, description="start from a random model of this shape, built offline (no base_model needed)"
    )
    out: Path = Field(description="output folder: OUT/checkpoint-STEP, OUT/final, OUT/logs")

    # -- objective -------------------------------------------------------------------------------
    mode: Mode = Field(
        "overall",
        description="overall: the mean of the two heads on the overall preference (the release); "
        "per-dimension: head 0 on following, head 1 on quality, each on its own preference",
    )
    loss: Literal["uncertainty", "bt", "bt-ties"] = Field("uncertainty", description="pairwise loss")
    ties: Literal["skip", "first"] = Field(
        "skip",
        description="ties under uncertainty/bt: skip them, or count path1 as preferred (the release's "
        "default); bt-ties always models them",
    )
    rao_kupper_theta: float = Field(RAO_KUPPER_THETA, gt=1, description="bt-ties' theta (the release's 5)")
    mc_samples: int = Field(1000, gt=0, description="Monte-Carlo samples per pair of the uncertainty loss")

    # -- optimisation ----------------------------------------------------------------------------
    num_epochs: float = Field(10, gt=0, description="epochs over train_pairs (unless max_steps is given)")
    max_steps: int | None = Field(None, gt=0, description="optimizer steps (overrides num_epochs)")
    batch_size: int = Field(2, gt=0, description="pairs per process per micro-batch")
    gradient_accumulation_steps: int = Field(4, gt=0, description="micro-batches per optimizer step")
    learning_rate: float = Field(2e-6, gt=0, description="AdamW learning rate of the backbone")
    head_learning_rate: float | None = Field(
        None, gt=0, description="learning rate of the reward heads (default: learning_rate)"
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    warmup_ratio: float = Field(
        0.05, ge=0, lt=1, description="linear warm-up share of the steps, then constant"
    )
    max_grad_norm: float = Field(1.0, gt=0, description="clip the gradient's global L2 norm")
    freeze_vision_tower: bool = Field(
        False, description="train no weight of the vision tower (its merger too)"
    )
    lora: bool = Field(False, description="train LoRA adapters on the language model's linear layers (peft)")
    lora_rank: int = Field(64, gt=0, description="LoRA rank")
    lora_alpha: float = Field(128, gt=0, description="LoRA alpha")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    mixed_precision: Literal["no", "fp16", "bf16"] = Field(
        "no", description="autocast on CUDA (weights stay fp32); refused on CPU"
    )
    gradient_checkpointing: bool = Field(
        False, description="recompute the backbone's activations to save memory"
    )
    seed: int = Field(0, description="seed of the random shape, the heads, data order, dropout and MC noise")

    # -- checkpoints and logs --------------------------------------------------------------------
    resume: bool = Field(False, description="continue from the latest OUT/checkpoint-STEP, if any")
    checkpoint_every: int = Field(500, gt=0, description="save OUT/checkpoint-STEP every N steps")
    checkpoints_total_limit: int | None = Field(None, gt=0, description="keep only the newest N checkpoints")
    log_every: int = Field(10, gt=0, description="print the loss every N steps (every step goes to OUT/logs)")

    @model_validator(mode="after")
    def _consistent(self) -> RewardTrainConfig:
        if self.shape is not None and (self.base_model is not None or self.init is not None):
            raise ValueError("'shape' builds its own model: give neither base_model nor init with it")
        if self.shape is None and self.base_model is None and self.init is None:
            raise ValueError("give 'shape', 'base_model' or 'init' (a folder holding the base files too)")
        return self
