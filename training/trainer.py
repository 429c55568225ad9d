"""The training loop: reward fine-tuning of the U-Net and reward modules, under `accelerate`.

Text encoder and VAE stay frozen. Every random draw of a step (posterior sample, noise, timesteps,
dropout) comes from a generator seeded by (seed, step, process), and the data order from the
sample stream position, so a resumed run reproduces the uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import yaml
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import is_tensorboard_available, set_seed
from diffusers import DDPMScheduler
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from model import Components, RewardEditUNet, build_preset, load_components, save_components
from model.text import text_mask

from .checkpoints import (
    FINAL,
    checkpoint_folder,
    checkpoints,
    latest_checkpoint,
    prune_checkpoints,
    write_atomically,
)
from .config import ConfigError, TrainConfig
from .csv_log import CsvLog
from .dataset import Augmentation, ManifestDataset
from .denoiser import RewardDenoiser
from .encoding_cache import EncodingCache, fingerprint
from .manifest import read_manifest
from .objective import DropoutRates, EditObjective
from .sampler import StreamBatchSampler
from .seeding import STEP, generator
from .state import TrainingState, load_state, save_state
from .validation import save_validation_edits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepStats:
    loss: float
    lr: float
    grad_norm: float


class Trainer:
    """Builds the model, optimizer and data from a TrainConfig (resuming if asked) and trains."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        rows = read_manifest(config.manifest)
        self.validation_rows = (
            read_manifest(config.validation_manifest) if config.validation_manifest else rows
        )[: config.validation_samples]
        self.accelerator = accelerator = Accelerator(
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            mixed_precision=config.mixed_precision,
            log_with="tensorboard" if is_tensorboard_available() else None,
            project_dir=str(config.out / "logs"),
            # A batch may use only the null reward or only given rewards, leaving the other path unused.
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        set_seed(config.seed)
        if not config.resume and checkpoints(config.out):
            raise ConfigError(
                f"{config.out} already holds checkpoints: pass --resume to continue that run, "
                "or choose another --out"
            )
        resume_from = latest_checkpoint(config.out) if config.resume else None
        self.components = components = self._load_components(resume_from)
        self._check_null_reward(rows)
        for frozen in (components.vae, components.text_encoder):
            frozen.requires_grad_(False).eval().to(accelerator.device)
        if config.gradient_checkpointing:
            components.unet.enable_gradient_checkpointing()

        self.denoiser = RewardDenoiser(RewardEditUNet.from_components(components)).train()
        self.params = list(self.denoiser.parameters())
        optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.lr_scheduler = get_scheduler(
            config.lr_scheduler,
            optimizer,
            num_warmup_steps=config.lr_warmup_steps,
            num_training_steps=config.max_steps,
        )
        self.model, self.optimizer = accelerator.prepare(self.denoiser, optimizer)
        self.step = 0
        self.samples_seen = 0
        self.ema = self._restore(resume_from) if resume_from else None
        if config.ema and self.ema is None:
            self.ema = EMAModel(self.params, decay=config.ema_decay)

        cache = self._encoding_cache()
        self.dataset = ManifestDataset(
            rows,
            components.tokenizer,
            Augmentation(config.resolution, config.random_flip, config.center_crop),
            config.seed,
            components.reward.prompt,
            encoded=cache.posteriors if cache is not None else (),
        )
        self.sampler = StreamBatchSampler(
            len(self.dataset),
            config.batch_size,
            config.seed,
            rank=accelerator.process_index,
            world_size=accelerator.num_processes,
            start=self.samples_seen,
        )
        self.objective = EditObjective(
            components.vae,
            components.text_encoder,
            components.reward,
            DDPMScheduler.from_config(components.scheduler.config),
            self.dataset.tokenize("")[None],
            DropoutRates(config.instruction_dropout, config.image_dropout, config.reward_dropout),
            loss_weighting=config.loss_weighting,
            timestep_sampling=config.timestep_sampling,
            text_mask=(
                partial(text_mask, eos_token_id=components.tokenizer.eos_token_id)
                if components.config.mask_text_padding
                else None
            ),
            autocast=accelerator.autocast,
            cache=cache,
        )

    # -- set-up -----------------------------------------------------------------------------------
    def _load_components(self, resume_from: Path | None) -> Components:
        config = self.config
        if resume_from is not None:
            self._log(f"resuming from {resume_from}")
            return load_components(resume_from)
        components = (
            load_components(config.init)
            if config.init is not None
            else build_preset(config.preset, seed=config.seed)
        )
        if config.reward_inputs is not None:
            components.reward.register_to_config(
                use_scores=config.reward_inputs in ("score+text", "score"),
                use_texts=config.reward_inputs in ("score+text", "text"),
            )
        return components

    def _check_null_reward(self, rows: list) -> None:
        """A reward condition without a learned null reward (the release's) can train only on rewards."""
        reward = self.components.reward
        unlabelled = sum(row.rewards is None for row in rows)
        if not reward.has_null_condition and (self.config.reward_dropout > 0 or unlabelled):
            raise ConfigError(
                f"the {reward.architecture} reward condition has no learned null reward: train it with "
                f"--reward-dropout 0 on a manifest whose rows all have rewards ({unlabelled} have none)"
            )

    def _encoding_cache(self) -> EncodingCache | None:
        config, c = self.config, self.components
        if not config.cache_encodings:
            return None
        if config.encoding_cache_file is None:
            return EncodingCache()
        key = fingerprint(config.manifest, config.resolution, c.vae, c.text_encoder)
        return EncodingCache.load(config.encoding_cache_file, key, self.accelerator.device)

    def _save_encoding_cache(self) -> None:
        """The main process's encodings (with several processes, only the rows of its shard)."""
        if self.config.encoding_cache_file is not None:
            self._on_main(lambda: self.objective.cache.save(self.config.encoding_cache_file))

    def _restore(self, folder: Path) -> EMAModel | None:
        """Load optimizer, schedule, loss scale, data position and raw weights; return the EMA if saved.

        The checkpoint's model weights are the EMA weights when it has an EMA, so the EMA is rebuilt
        from them before the raw trained weights replace them in the model.
        """
        state, optimizer_state, raw_weights = load_state(folder)
        ema = None
        if self.config.ema and state.ema is not None:
            ema = EMAModel(self.params, decay=self.config.ema_decay)
            ema.load_state_dict({**state.ema, "decay": self.config.ema_decay})
        if raw_weights is not None:
            self.denoiser.net.load_state_dict(raw_weights)
        self.optimizer.load_state_dict(optimizer_state)
        self.lr_scheduler.load_state_dict(state.lr_scheduler)
        if self.accelerator.scaler is not None and state.grad_scaler:
            self.accelerator.scaler.load_state_dict(state.grad_scaler)
        if state.world_size != self.accelerator.num_processes:
            logger.warning(
                "checkpoint was written by %d process(es), resuming with %d: the data continues from the "
                "same sample, but noise and dropout draws differ from an uninterrupted run",
                state.world_size,
                self.accelerator.num_processes,
            )
        self.step, self.samples_seen = state.step, state.samples_seen
        return ema

    # -- training ---------------------------------------------------------------------------------
    def fit(self) -> Path:
        """Train to max_steps, saving checkpoints and validation edits on the way; returns DIR/final."""
        config, accelerator = self.config, self.accelerator
        log = None
        if self._is_main:
            log = CsvLog(config.out / "logs" / "train.csv", resume_step=self.step)
            # The resolved configuration, loadable with --config, to reproduce or extend the run.
            (config.out / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
        accelerator.init_trackers("rewardedit")
        self._log(
            f"training steps {self.step + 1}-{config.max_steps} on {accelerator.num_processes} process(es), "
            f"{len(self.dataset)} samples, global batch "
            f"{config.batch_size * accelerator.num_processes * config.gradient_accumulation_steps}"
        )
        batches = iter(
            DataLoader(
                self.dataset,
                batch_sampler=self.sampler,
                num_workers=config.num_workers,
                pin_memory=accelerator.device.type == "cuda",
            )
        )
        progress = tqdm(
            total=config.max_steps,
            initial=self.step,
            desc="training",
            unit="step",
            disable=not accelerator.is_local_main_process,
        )
        started = time.perf_counter()
        first_done, first_step = None, self.step
        while self.step < config.max_steps:
            stats = self.train_step(self._micro_batches(batches))
            elapsed = time.perf_counter() - started
            first_done = first_done or elapsed
            if log is not None:
                log.write(step=self.step, **vars(stats), elapsed_s=round(elapsed, 3))
            accelerator.log(vars(stats), step=self.step)
            progress.update(1)
            progress.set_postfix(loss=f"{stats.loss:.4f}", lr=f"{stats.lr:.2e}")
            if self.step % config.checkpoint_every == 0:
                self.save_checkpoint()
            if config.validate_every and self.step % config.validate_every == 0:
                self.validate()
        progress.close()
        self._report_speed(self.step - first_step, first_done, time.perf_counter() - started)
        final = self.save_final()
        accelerator.end_training()
        return final

    def train_step(self, batches: Iterable[dict[str, torch.Tensor]]) -> StepStats:
        """One optimizer step over gradient_accumulation_steps micro-batches, with clipping and EMA."""
        accelerator, config = self.accelerator, self.config
        losses = []
        grad_norm = torch.tensor(float("nan"))
        lr = self.optimizer.param_groups[0]["lr"]
        for micro, batch in enumerate(batches):
            index = self.step * config.gradient_accumulation_steps + micro
            draws = generator(config.seed, STEP, index, accelerator.process_index)
            with accelerator.accumulate(self.model):
                loss = self.objective.loss(self.model, batch, draws)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    grad_norm = accelerator.clip_grad_norm_(self.params, config.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
        self.lr_scheduler.step()
        if self.ema is not None:
            self.ema.step(self.params)
        self.step += 1
        self.samples_seen += len(losses) * self.sampler.global_batch_size
        loss = accelerator.reduce(torch.stack(losses).mean(), reduction="mean")
        return StepStats(loss=loss.item(), lr=lr, grad_norm=float(grad_norm))

    def _micro_batches(self, batches: Iterator[dict[str, torch.Tensor]]) -> Iterator[dict[str, torch.Tensor]]:
        device = self.accelerator.device
        for _ in range(self.config.gradient_accumulation_steps):
            yield {key: value.to(device, non_blocking=True) for key, value in next(batches).items()}

    # -- saving and validation --------------------------------------------------------------------
    @contextlib.contextmanager
    def served_weights(self) -> Iterator[None]:
        """Temporarily swap in the weights a checkpoint serves: the EMA's, when there is one."""
        if self.ema is None:
            yield
            return
        self.ema.store(self.params)
        self.ema.copy_to(self.params)
        try:
            yield
        finally:
            self.ema.restore(self.params)

    def save_checkpoint(self) -> Path:
        """DIR/checkpoint-STEP: the contract checkpoint folder plus training_state/ for --resume."""
        folder = checkpoint_folder(self.config.out, self.step)
        self._on_main(lambda: write_atomically(folder, self._write_checkpoint))
        self._on_main(lambda: prune_checkpoints(self.config.out, self.config.checkpoints_total_limit))
        self._save_encoding_cache()
        return folder

    def _save_model(self, folder: Path) -> None:
        """The contract checkpoint folder, with the weights to serve."""
        with self.served_weights():
            save_components(self.components, folder)

    def _write_checkpoint(self, folder: Path) -> None:
        self._save_model(folder)
        scaler = self.accelerator.scaler
        state = TrainingState(
            step=self.step,
            samples_seen=self.samples_seen,
            world_size=self.accelerator.num_processes,
            lr_scheduler=self.lr_scheduler.state_dict(),
            grad_scaler=scaler.state_dict() if scaler is not None else None,
            ema=_without_shadow(self.ema.state_dict()) if self.ema is not None else None,
        )
        raw_weights = self.denoiser.net.state_dict() if self.ema is not None else None
        save_state(folder, state, self.optimizer.state_dict(), raw_weights)

    def save_final(self) -> Path:
        folder = self.config.out / FINAL
        self._on_main(lambda: write_atomically(folder, self._save_model))
        self._save_encoding_cache()
        self._log(f"final checkpoint: {folder}")
        return folder

    def validate(self) -> None:
        """Save validation edits of DIR/validation/step-STEP (main process; the others wait)."""

        def run() -> None:
            out = self.config.out / "validation" / f"step-{self.step:06d}"
            with self.served_weights():
                save_validation_edits(
                    self.components,
                    self.validation_rows,
                    out,
                    self.config.resolution,
                    self.config.validation_inference_steps,
                    self.config.seed,
                )
            self.denoiser.train()

        self._on_main(run)

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def _is_main(self) -> bool:
        return self.accelerator.is_main_process

    def _on_main(self, action: Callable[[], object]) -> None:
        """Run `action` on the main process while the others wait at a barrier."""
        if self._is_main:
            action()
        self.accelerator.wait_for_everyone()

    def _log(self, message: str) -> None:
        if self._is_main:
            logger.info(message)

    def _report_speed(self, steps: int, first: float | None, total: float) -> None:
        if steps < 2 or first is None:
            return
        rate = (steps - 1) / (total - first)
        message = f"{steps} steps in {total:.1f} s; {rate:.2f} steps/s after the first step"
        if torch.cuda.is_available():
            message += f"; peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
        self._log(message)


def _without_shadow(ema_state: dict) -> dict:
    """The EMA's counters; its weights are the checkpoint's model weights."""
    return {key: value for key, value in ema_state.items() if key != "shadow_params"}


def train(config: TrainConfig) -> Path:
    return Trainer(config).fit()
