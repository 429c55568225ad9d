"""The `train-reward` loop: preference pairs -> pairwise loss on the heads -> EditReward checkpoints.

One code path for a CPU process and `accelerate launch` on several GPUs (Accelerator wraps the
model in DDP; each process takes its share of every step's pairs). Every random draw is a function
of (seed, step): data order per epoch, dropout (seeded at each step), Monte-Carlo noise. So a run
resumed from OUT/checkpoint-STEP takes exactly the steps an uninterrupted run takes; the weights
are bit-identical (on the same hardware and world size).

OUT/checkpoint-STEP and OUT/final hold `model.safetensors` in the released layout (4.57 names,
an lm_head, heads and backbone in fp32) and the base folder's config, tokenizer, template and
preprocessor settings, so each is a `--reward-model` (and its own `--base-model`);
checkpoint-STEP also holds training_state/ (training/state.py: optimizer, schedule, step; with LoRA
the unmerged weights). OUT/logs/train.jsonl has a line per step, OUT/logs/eval.jsonl per evaluation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

from judge.editreward.checkpoint import LM_HEAD, WEIGHTS
from judge.editreward.model import EditRewardModel
from training.checkpoints import (
    FINAL,
    checkpoint_folder,
    latest_checkpoint,
    prune_checkpoints,
    write_atomically,
)
from training.seeding import PERMUTATION, STEP, derive_seed, generator
from training.state import STATE_FOLDER, TrainingState, load_state, save_state

from .batches import CachedInputBuilder, by_pair, pair_inputs
from .config import RewardTrainConfig
from .data import DIMENSIONS, PreferencePair, read_pairs
from .evaluation import evaluate
from .losses import pairwise_loss
from .model_init import StartingModel, base_folder_for, copy_base_files, start_model
from .tuning import apply_lora, merged_state, set_trainable

LOG = logging.getLogger(__name__)
NOISE = 12  # derive_seed purpose of the uncertainty loss's samples
LOGS = "logs"


class TrainRewardError(ValueError):
    """A setting this machine or these pairs cannot train with; the message says which."""


def check_device(config: RewardTrainConfig) -> None:
    if config.mixed_precision != "no" and not torch.cuda.is_available():
        raise TrainRewardError(
            f"mixed_precision {config.mixed_precision} needs CUDA; on a CPU train with mixed_precision: no"
        )


def steps_per_epoch(pairs: int, global_batch: int) -> int:
    steps = pairs // global_batch
    if steps < 1:
        raise TrainRewardError(f"{pairs} pairs cannot fill one step of {global_batch} pairs")
    return steps


def step_indices(seed: int, step: int, pairs: int, global_batch: int) -> np.ndarray:
    """The pairs of optimizer step `step` (all processes and micro-batches); a new permutation per epoch."""
    per_epoch = steps_per_epoch(pairs, global_batch)
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng(derive_seed(seed, PERMUTATION, epoch)).permutation(pairs)
    return order[position * global_batch : (position + 1) * global_batch]


def relations(
    pairs: Sequence[PreferencePair], name: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(relation, known) tensors; an unknown relation is 0 and not known."""
    values = [pair.relation(name) for pair in pairs]
    relation = torch.tensor([0 if v is None else v for v in values], device=device)
    known = torch.tensor([v is not None for v in values], device=device)
    return relation, known


def pairs_loss(
    config: RewardTrainConfig, outputs: torch.Tensor, pairs: Sequence[PreferencePair], noise: torch.Generator
) -> tuple[torch.Tensor, int]:
    """(mean loss over the counted terms, how many) for outputs [pairs, 2 edits, 2 heads, 2]."""
    device = outputs.device
    if config.mode == "overall":  # the release's mean pooling of [mu, log sigma] over the heads
        pooled = outputs.mean(dim=2)
        terms = [(pooled[:, 0], pooled[:, 1], "overall")]
    else:
        terms = [(outputs[:, 0, head], outputs[:, 1, head], name) for head, name in enumerate(DIMENSIONS)]
    total, counted = outputs.sum() * 0.0, 0
    for first, second, name in terms:
        relation, known = relations(pairs, name, device)
        samples = None
        if config.loss == "uncertainty":
            samples = torch.randn(len(pairs), config.mc_samples, generator=noise).to(device)
        loss, used = pairwise_loss(
            config.loss, first, second, relation, samples, config.ties, config.rao_kupper_theta
        )
        used = used & known
        total = total + torch.where(used, loss, torch.zeros_like(loss)).sum()
        counted += int(used.sum())
    return total / max(counted, 1), counted


def lr_lambda(warmup: int):
    return lambda step: min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0


class JsonLog:
    """Appends JSON lines; on resume, first drops the lines after the resumed step."""

    def __init__(self, path: Path, resume_step: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if path.is_file():
            kept = [
                line
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line)["step"] <= resume_step
            ]
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        self.last = json.loads(kept[-1]) if kept else {}

    def write(self, **values: Any) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(values) + "\n")


def save_checkpoint(
    folder: Path,
    model: EditRewardModel,
    start: StartingModel,
    base_dir: Path,
    state: TrainingState | None,
    optimizer: dict[str, Any] | None,
    lora: bool,
) -> Path:
    def write(target: Path) -> None:
        target.mkdir(parents=True)
        weights = merged_state(model)
        if start.lm_head is not None:
            weights[LM_HEAD] = start.lm_head
        save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(target / WEIGHTS))
        copy_base_files(base_dir, target)
        if state is not None and optimizer is not None:
            raw = {k: v.detach().cpu() for k, v in model.state_dict().items()} if lora else None
            save_state(target, state, optimizer, raw)

    return write_atomically(folder, write)


def restore(folder: Path, model: EditRewardModel, lora: bool) -> tuple[TrainingState, dict[str, Any]]:
    state, optimizer, raw = load_state(folder)
    if lora:
        if raw is None:
            raise TrainRewardError(f"{folder}: no unmerged weights in {STATE_FOLDER}; was it a LoRA run?")
        weights = raw
    else:
        weights = load_file(str(folder / WEIGHTS))
        weights.pop(LM_HEAD, None)
    model.load_state_dict(weights, strict=True)
    return state, optimizer


def train(config: RewardTrainConfig) -> Path:
    check_device(config)
    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    device, world, rank = accelerator.device, accelerator.num_processes, accelerator.process_index
    config.out.mkdir(parents=True, exist_ok=True)
    train_pairs = read_pairs(config.train_pairs, config.image_root)
    eval_pairs = read_pairs(config.eval_pairs) if config.eval_pairs is not None else []
    if config.eval_limit is not None:
        eval_pairs = eval_pairs[: config.eval_limit]
    micro = config.batch_size
    global_batch = micro * config.gradient_accumulation_steps * world
    per_epoch = steps_per_epoch(len(train_pairs), global_batch)
    max_steps = config.max_steps or max(1, math.ceil(config.num_epochs * per_epoch))

    with accelerator.main_process_first():
        base_dir = base_folder_for(config, accelerator.is_main_process)
    start = start_model(config, base_dir)
    model = start.model
    if config.lora:
        apply_lora(model, config)
    set_trainable(model, config)
    if config.gradient_checkpointing:
        model.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    head_lr = config.head_learning_rate or config.learning_rate
    groups = [
        {
            "params": [
                p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("rm_heads.")
            ]
        },
        {
            "params": [
                p for n, p in model.named_parameters() if p.requires_grad and n.startswith("rm_heads.")
            ],
            "lr": head_lr,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(round(config.warmup_ratio * max_steps))
    )

    step, scaler_state = 0, None
    resume_from = latest_checkpoint(config.out) if config.resume else None
    if resume_from is not None:
        state, optimizer_state = restore(resume_from, model, config.lora)
        if state.world_size != world:
            raise TrainRewardError(f"{resume_from} was trained by {state.world_size} processes, not {world}")
        optimizer.load_state_dict(optimizer_state)
        scheduler.load_state_dict(state.lr_scheduler)
        scaler_state = state.grad_scaler
        step = state.step
        LOG.info("resumed from %s at step %d", resume_from, step)
    model.to(device)
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    if scaler_state is not None and accelerator.scaler is not None:  # fp16's loss scale
        accelerator.scaler.load_state_dict(scaler_state)
    builder = CachedInputBuilder(start.base)
    logs = config.out / LOGS
    train_log = JsonLog(logs / "train.jsonl", step) if accelerator.is_main_process else None
    eval_log = JsonLog(logs / "eval.jsonl", step) if accelerator.is_main_process else None
    # Training time adds up over resumes (the time of the steps kept in the log, then this process's).
    started = time.monotonic() - (train_log.last.get("elapsed_s", 0.0) if train_log is not None else 0.0)

    def run_eval() -> None:
        if eval_pairs and eval_log is not None:
            scores = evaluate(model, builder, eval_pairs, device)
            eval_log.write(step=step, **scores)
            LOG.info(
                "step %d eval %s",
                step,
                " ".join(f"{k} {v:.3f}" for k, v in scores.items() if k.endswith("_acc")),
            )

    if step == 0 and config.eval_every:
        run_eval()
    while step < max_steps:
        torch.manual_seed(derive_seed(config.seed, STEP, step))  # dropout
        noise = generator(config.seed, NOISE, step, rank)
        indices = step_indices(config.seed, step, len(train_pairs), global_batch)
        step_loss, step_terms = 0.0, 0
        for index in range(config.gradient_accumulation_steps):
            offset = (index * world + rank) * micro
            pairs = [train_pairs[i] for i in indices[offset : offset + micro]]
            inputs = pair_inputs(builder, pairs).to(device)
            last = index == config.gradient_accumulation_steps - 1
            # Gradients are all-reduced once per optimizer step, on its last micro-batch.
            with accelerator.no_sync(wrapped) if not last else contextlib.nullcontext():
                with accelerator.autocast():
                    outputs = by_pair(wrapped(inputs).float(), len(pairs))
                    loss, terms = pairs_loss(config, outputs, pairs, noise)
                accelerator.backward(loss / config.gradient_accumulation_steps)
            step_loss += float(loss.detach()) / config.gradient_accumulation_steps
            step_terms += terms
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if train_log is not None:
            train_log.write(
                step=step,
                loss=step_loss,
                terms=step_terms,
                lr=scheduler.get_last_lr()[0],
                grad_norm=float(grad_norm),
                elapsed_s=round(time.monotonic() - started, 2),
            )
        if step % config.log_every == 0 and accelerator.is_main_process:
            LOG.info("step %d/%d loss %.4f", step, max_steps, step_loss)
        if step % config.checkpoint_every == 0 or step == max_steps:
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                scaler = accelerator.scaler.state_dict() if accelerator.scaler is not None else None
                state = TrainingState(step, step * global_batch, world, scheduler.state_dict(), scaler)
                save_checkpoint(
                    checkpoint_folder(config.out, step),
                    model,
                    start,
                    base_dir,
                    state,
                    optimizer.state_dict(),
                    config.lora,
                )
                prune_checkpoints(config.out, config.checkpoints_total_limit)
        if step == max_steps or (config.eval_every and step % config.eval_every == 0):
            run_eval()
        accelerator.wait_for_everyone()
    final = config.out / FINAL
    if accelerator.is_main_process:
        save_checkpoint(final, model, start, base_dir, None, None, config.lora)
    accelerator.wait_for_everyone()
    return final
