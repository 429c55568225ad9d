"""The training loss: InstructPix2Pix's MSE (on the noise, v or x0) with the reward as a third condition.

Conditioning dropout trains the branches classifier-free guidance samples from: the empty
instruction (text CFG), a zero source latent (image CFG, as InstructPix2Pix trains it) and the
learned null reward (reward CFG). The three are drawn independently per sample.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import get_args

import torch
from diffusers import AutoencoderKL, DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor
from torch import nn
from torch.nn import functional
from transformers import CLIPTextModel

from model.reward_condition import RewardCondition

from .config import LossWeighting, TimestepSampling
from .encoding_cache import EncodingCache, cached_rows, text_key

# What the U-Net learns to output, as the checkpoint's scheduler config says (diffusers' names).
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
# Added to each edit's energy under edit weighting: an edit that changes nothing (a copy) still has a
# finite weight. About a tenth of a recoloured 64 px scene object's energy in scaled latents.
EDIT_WEIGHT_FLOOR = 0.01
# Under region weighting, a latent cell belongs to the edit when some channel of it changes by more
# than this between the source and the target (scaled latents, whose spread is about 1).
EDIT_REGION_THRESHOLD = 0.1


@dataclass(frozen=True)
class DropoutRates:
    instruction: float
    image: float
    reward: float


class EditObjective:
    """Encodes a batch with the frozen VAE and text encoder, noises it, and scores a denoiser on it."""

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        reward: RewardCondition,
        noise_scheduler: DDPMScheduler,
        empty_ids: torch.Tensor,
        rates: DropoutRates,
        loss_weighting: LossWeighting = "uniform",
        timestep_sampling: TimestepSampling = "uniform",
        text_mask: Callable[[torch.Tensor], torch.Tensor] | None = None,
        autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
        cache: EncodingCache | None = None,
    ) -> None:
        if noise_scheduler.config.prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"the scheduler predicts {noise_scheduler.config.prediction_type!r}; "
                f"training supports {', '.join(PREDICTION_TYPES)}"
            )
        if loss_weighting not in get_args(LossWeighting):
            raise ValueError(f"loss weighting {loss_weighting!r} is not one of {get_args(LossWeighting)}")
        if timestep_sampling not in get_args(TimestepSampling):
            raise ValueError(
                f"timestep sampling {timestep_sampling!r} is not one of {get_args(TimestepSampling)}"
            )
        self.vae = vae
        self.text_encoder = text_encoder
        self.reward = reward
        self.noise_scheduler = noise_scheduler
        self.rates = rates
        self.timestep_sampling = timestep_sampling
        self.loss_weighting = loss_weighting
        self.text_mask = text_mask
        self.empty_ids = empty_ids
        self.autocast = autocast
        self.cache = cache
        with torch.no_grad():
            self.empty_states = text_encoder(empty_ids.to(text_encoder.device))[0]

    @torch.no_grad()
    def encode(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Target latent (posterior sample, scaled), source latent (posterior mode, unscaled), text states."""
        with self.autocast():
            mean, std, source = (torch.stack(parts) for parts in zip(*self._posteriors(batch), strict=True))
            # What DiagonalGaussianDistribution.sample draws, so caching changes no random stream.
            noise = randn_tensor(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            return {
                "target": ((mean + std * noise) * self.vae.config.scaling_factor).float(),
                "source": source,
                "text": self._text_features(batch["input_ids"]),
                "reward_text": self._text_features(batch["reward_ids"], self.reward),
            }

    def _posteriors(self, batch: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, ...]]:
        """(target mean, target std, source mode) of each row of the batch."""

        def encode(rows: list[int]) -> list[tuple[torch.Tensor, ...]]:
            target = self.vae.encode(batch["edited"][rows]).latent_dist
            source = self.vae.encode(batch["source"][rows]).latent_dist.mode()
            # Cloned: the mean and mode are views of a tensor twice their size.
            return list(zip(target.mean.clone(), target.std, source.clone(), strict=True))

        store = {} if self.cache is None else self.cache.posteriors
        return cached_rows(store, batch["index"].tolist(), encode)

    def _text_features(self, ids: torch.Tensor, reward: RewardCondition | None = None) -> torch.Tensor:
        """The encoder's last hidden states, or what `reward` reads of the encoder's output."""
        store = {} if self.cache is None else self.cache.texts
        output = "last_hidden_state" if reward is None else reward.text_output
        # States keep their plain key (a text encodes alike as instruction or reward text).
        prefix = "" if output == "last_hidden_state" else f"{output}:"
        keys = [prefix + text_key(row) for row in ids.cpu().numpy()]
        return torch.stack(
            cached_rows(store, keys, lambda rows: list(getattr(self.text_encoder(ids[rows]), output)))
        )

    def _timesteps(self, size: int, generator: torch.Generator) -> torch.Tensor:
        count = self.noise_scheduler.config.num_train_timesteps
        if self.timestep_sampling == "uniform":
            return torch.randint(0, count, (size,), generator=generator)
        draws = 1 - torch.rand(size, generator=generator).pow(3)
        return (draws * count).long().clamp(max=count - 1)

    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        """MSE between the prediction and its target (the noise, v or x0); all randomness from `generator`."""
        encoded = self.encode(batch, generator)
        target = encoded["target"]
        size, device = target.shape[0], target.device
        noise = randn_tensor(target.shape, generator=generator, device=device, dtype=target.dtype)
        timesteps = self._timesteps(size, generator).to(device)
        noisy = self.noise_scheduler.add_noise(target, noise, timesteps)

        drop = torch.rand(3, size, generator=generator).to(device)
        rates, text = self.rates, encoded["text"]
        empty = self.empty_states.to(text.dtype)
        dropped = (drop[0] < rates.instruction)[:, None]
        text = torch.where(dropped[:, :, None], empty, text)
        mask = None
        if self.text_mask is not None:
            ids = torch.where(dropped, self.empty_ids.to(device), batch["input_ids"].to(device))
            mask = self.text_mask(ids)
        source = encoded["source"] * (drop[1] >= rates.image)[:, None, None, None]
        use_reward = batch["has_reward"] & (drop[2] >= rates.reward)

        reward_text, scores = encoded["reward_text"], batch["scores"]
        prediction = model(noisy, timesteps, text, source, reward_text, scores, use_reward, mask)
        prediction_type = self.noise_scheduler.config.prediction_type
        if prediction_type == "v_prediction":
            wanted = self.noise_scheduler.get_velocity(target, noise, timesteps)
        else:
            wanted = target if prediction_type == "sample" else noise
        squared = (prediction.float() - wanted).pow(2)
        if self.loss_weighting == "uniform":
            return squared.flatten(1).mean(1).mean()
        change = target - encoded["source"] * self.vae.config.scaling_factor
        if self.loss_weighting == "region":
            cells = edit_cells(change, batch["mask"].to(device), batch["has_mask"].to(device))
            return region_balanced(squared, cells).mean()
        # Per sample: the share of its edit still wrong, where plain MSE lets whole-image edits
        # drown out the small local ones that the following perspective weighs as much.
        return (squared.flatten(1).mean(1) / (change.pow(2).flatten(1).mean(1) + EDIT_WEIGHT_FLOOR)).mean()


def edit_cells(change: torch.Tensor, mask: torch.Tensor, has_mask: torch.Tensor) -> torch.Tensor:
    """The latent cells (batch, h, w) an edit is about, from its mask where the row has one.

    Without a mask, the cells the target changes: some channel by more than EDIT_REGION_THRESHOLD.
    With one, the cells any masked pixel falls in: a noisy target degraded all over (blur, a
    colour cast) changes every cell, and only the mask still tells the edit's own.
    """
    changed = change.abs().amax(1) > EDIT_REGION_THRESHOLD
    masked = functional.adaptive_max_pool2d(mask, changed.shape[-2:])[:, 0] > 0.5
    return torch.where(has_mask[:, None, None], masked, changed)


def region_balanced(squared: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Per sample: the squared error with the edit's cells (`inside`, see `edit_cells`) weighing at
    least half, and never less than their share of the image.

    Plain MSE weighs an edit by its area: recolouring one shape is a few percent of a 64 px scene's
    cells, so the loss of drawing the source unchanged is a few percent of the loss of ignoring a
    whole-image edit, and the binding of a word to a shape is learnt last. Here a small edit's cells
    weigh as much as all the others. An edit over most of the image (a new background) keeps its
    plain mean: halving it would teach the shapes it spares at the cost of the edit itself. A sample
    whose edit covers no cell keeps its plain mean too.
    """
    inside = inside.flatten(1).to(squared.dtype)
    errors = squared.mean(1).flatten(1)  # per cell: (batch, h * w)
    count_in, count_out = inside.sum(1), (1 - inside).sum(1)
    mean_in = (errors * inside).sum(1) / count_in.clamp(min=1)
    mean_out = (errors * (1 - inside)).sum(1) / count_out.clamp(min=1)
    share = (count_in / errors.shape[1]).clamp(min=0.5)
    return torch.where(count_in > 0, share * mean_in + (1 - share) * mean_out, errors.mean(1))
