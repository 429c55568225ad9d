"""`rewardedit train-vae`: pretrain a checkpoint's VAE as an autoencoder on a manifest's images.

The presets' VAEs are random, and `rewardedit train` keeps the VAE frozen, so a model trained on
top of a random VAE can only ever output noise. This trains the VAE alone (L1 + MSE reconstruction
and a small KL term), sets its `scaling_factor` to 1/std of its latents as Stable Diffusion does,
so the U-Net sees unit-variance latents, and writes the whole checkpoint folder back.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field, model_validator

from model import Components, InvalidInputError, build_preset, load_components, save_components
from model.image import load_image
from model.pipeline import default_device, resolve_device

from .checkpoints import write_atomically
from .config import ConfigError, PresetName
from .manifest import ManifestError, read_manifest

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
CALIBRATION_IMAGES = 512


class AutoencoderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: Path = Field(description="manifest (.jsonl; its source and edited images) or a folder of images")
    init: Path | None = Field(None, description="checkpoint folder whose VAE to train")
    preset: PresetName | None = Field(None, description="start from a randomly initialised preset instead")
    out: Path = Field(description="checkpoint folder to write (may be the --init folder itself)")
    eval_data: Path | None = Field(
        None, description="held-out manifest or image folder whose reconstruction PSNR is logged"
    )
    resolution: int = Field(64, gt=0, multiple_of=8, description="square image side in pixels")
    max_steps: int = Field(2000, gt=0, description="optimizer steps to train for")
    batch_size: int = Field(8, gt=0, description="images per step")
    learning_rate: float = Field(5e-4, gt=0, description="AdamW learning rate")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "cosine",
        description="keep the learning rate, or decay it to 0 over max_steps (sharper reconstructions)",
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    kl_weight: float = Field(1e-6, ge=0, description="weight of the KL term against the reconstruction loss")
    log_every: int = Field(100, gt=0, description="log the loss (and held-out PSNR) every N steps")
    save_every: int = Field(0, ge=0, description="also write the checkpoint every N steps (0: at the end)")
    seed: int = Field(0, description="seed of the preset weights, batches, flips and posterior samples")
    device: str | None = Field(
        None, pattern=r"^(cpu|cuda(:\d+)?)$", description="cpu or cuda (default: cuda when available)"
    )

    @model_validator(mode="after")
    def _one_starting_point(self) -> AutoencoderConfig:
        if (self.init is None) == (self.preset is None):
            raise ValueError("give exactly one of 'init' (a checkpoint folder) and 'preset'")
        return self


def image_paths(data: Path) -> list[Path]:
    """A manifest's distinct source and edited images, or every image file under a folder, sorted."""
    if data.is_dir():
        return sorted(p for p in data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    rows = read_manifest(data)
    return sorted({path for row in rows for path in (row.source, row.edited)})


def load_images(data: Path, resolution: int) -> torch.Tensor:
    """All images of `data`, resized and centre-cropped to squares, as one uint8 tensor (N, 3, R, R).

    Held in memory: a CPU run at 64 px spends its time in the VAE, not decoding PNGs every step.
    """
    paths = image_paths(data)
    if not paths:
        raise ManifestError(f"{data}: no images found")
    images = []
    for path in paths:
        try:
            image = ImageOps.exif_transpose(load_image(path)).convert("RGB")
        except InvalidInputError as exc:
            raise ManifestError(str(exc)) from exc
        square = ImageOps.fit(image, (resolution, resolution), Image.Resampling.BICUBIC)
        images.append(torch.from_numpy(np.array(square, dtype=np.uint8)).permute(2, 0, 1))
    return torch.stack(images)


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float in [-1, 1], the range the VAE and the pipeline use."""
    return images.float() / 127.5 - 1.0


def reconstruction_loss(
    vae: AutoencoderKL, x: torch.Tensor, kl_weight: float, draws: torch.Generator
) -> torch.Tensor:
    """L1 + MSE of the decoded posterior sample (sharp edges and PSNR both), plus the weighted KL."""
    posterior = vae.encode(x).latent_dist
    decoded = vae.decode(posterior.sample(draws)).sample
    return F.l1_loss(decoded, x) + F.mse_loss(decoded, x) + kl_weight * posterior.kl().mean()


@torch.no_grad()
def reconstruction_psnr(vae: AutoencoderKL, images: torch.Tensor, batch_size: int = 64) -> float:
    """Mean per-image PSNR (dB, pixels in [0, 1]) of decoding each image's posterior mode."""
    was_training = vae.training
    vae.eval()
    scores = []
    for batch in images.split(batch_size):
        x = as_input(batch.to(vae.device))
        decoded = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        mse = ((decoded - x) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-10)
        scores.append(-10 * torch.log10(mse))
    vae.train(was_training)
    return torch.cat(scores).mean().item()


@torch.no_grad()
def calibrate_scaling_factor(vae: AutoencoderKL, images: torch.Tensor, draws: torch.Generator) -> float:
    """Set the config's scaling_factor to 1/std of posterior samples (saved with the VAE's config)."""
    was_training = vae.training
    vae.eval()
    batches = images[:CALIBRATION_IMAGES].split(64)
    latents = [vae.encode(as_input(batch.to(vae.device))).latent_dist.sample(draws) for batch in batches]
    vae.train(was_training)
    factor = 1.0 / torch.cat(latents).std().item()
    vae.register_to_config(scaling_factor=factor)
    return factor


class AutoencoderTrainer:
    """Trains the VAE of a checkpoint (or preset) on in-memory images; the other components ride along."""

    def __init__(self, config: AutoencoderConfig) -> None:
        self.config = config
        self.components: Components = (
            load_components(config.init) if config.init else build_preset(config.preset, seed=config.seed)
        )
        if not isinstance(self.components.vae, AutoencoderKL):
            name = type(self.components.vae).__name__
            raise ConfigError(
                f"this checkpoint's vae is a {name}, a lossless codec with nothing to train: use it as it is"
            )
        self.images = load_images(config.data, config.resolution)
        self.held_out = load_images(config.eval_data, config.resolution) if config.eval_data else None
        # The images stay on the CPU (uint8) and each batch moves; the random draws stay on the CPU too.
        device = resolve_device(config.device or default_device())
        self.vae = self.components.vae.to(device).requires_grad_(True).train()
        self.optimizer = torch.optim.AdamW(
            self.vae.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.draws = torch.Generator().manual_seed(config.seed)

    def _lr_factor(self, step: int) -> float:
        if self.config.lr_schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(step, self.config.max_steps) / self.config.max_steps))

    def fit(self) -> Path:
        """Train max_steps steps, logging and saving on the way; returns the written checkpoint folder."""
        config = self.config
        logger.info("training the VAE on %d images for %d steps", len(self.images), config.max_steps)
        self._log_held_out(0)
        started = time.perf_counter()
        for step in range(1, config.max_steps + 1):
            loss = self.train_step()
            if step % config.log_every == 0 or step == config.max_steps:
                rate = step / (time.perf_counter() - started)
                logger.info("step %d: loss %.4f, %.2f steps/s", step, loss, rate)
                self._log_held_out(step)
            if config.save_every and step % config.save_every == 0 and step < config.max_steps:
                self.save()
        return self.save()

    def train_step(self) -> float:
        batch = self.images[torch.randint(len(self.images), (self.config.batch_size,), generator=self.draws)]
        flip = torch.rand(len(batch), generator=self.draws) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        x = as_input(batch.to(self.vae.device))
        loss = reconstruction_loss(self.vae, x, self.config.kl_weight, self.draws)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"VAE loss became {value}: lower --learning-rate")
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        return value

    def save(self) -> Path:
        """Calibrate scaling_factor, then write the whole checkpoint folder atomically."""
        factor = calibrate_scaling_factor(self.vae, self.images, self.draws)
        folder = write_atomically(self.config.out, lambda path: save_components(self.components, path))
        logger.info("wrote %s (scaling_factor %.4f)", folder, factor)
        return folder

    def _log_held_out(self, step: int) -> None:
        if self.held_out is not None:
            psnr = reconstruction_psnr(self.vae, self.held_out)
            logger.info("step %d: held-out reconstruction PSNR %.2f dB", step, psnr)


def train_autoencoder(config: AutoencoderConfig) -> Path:
    return AutoencoderTrainer(config).fit()
