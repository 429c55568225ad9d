"""A lossless autoencoder: latents are the pixels themselves, each block of pixels folded into channels.

A learned VAE small enough for CPU training loses what the synthetic world's oracle measures (flat
palettes, 2-4 px textures, exact positions): through the best one trained so far, even the exact
edits passed its quality test 2% of the time. This codec's encode is pixel-unshuffle (space to
depth) and its decode the inverse, so a round trip returns the image bit for bit and nothing is
left to train. It exposes the part of `AutoencoderKL`'s surface that the pipeline, the trainer and
the synthetic world use, so a checkpoint with it in `vae/` loads and edits like any other.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKLOutput
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PixelShuffleCodec(ModelMixin, ConfigMixin):
    """`downscale` x `downscale` pixel blocks <-> latent cells of `in_channels * downscale**2` channels.

    The posterior is a point mass (zero variance): its mode, mean and every sample are the folded
    pixels. `scaling_factor` plays the VAE's part (1/std of the latents the U-Net learns to draw).
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        downscale: int = 4,
        scaling_factor: float = 1.0,
        latent_channels: int | None = None,
        block_out_channels: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if downscale < 1 or downscale & (downscale - 1):
            raise ValueError(f"downscale must be a power of 2, not {downscale}")
        # What the pipeline and trainer read off a VAE config: the channels of a latent, and one
        # block per halving (vae_scale_factor = 2 ** (len(block_out_channels) - 1)). Derived; stored
        # so the config reads like a VAE's, and checked when a saved config gives them back.
        channels = in_channels * downscale**2
        blocks = (channels,) * (int(math.log2(downscale)) + 1)
        if (latent_channels or channels) != channels or tuple(block_out_channels or blocks) != blocks:
            raise ValueError(
                f"latent_channels {latent_channels} / block_out_channels {block_out_channels} do not fit "
                f"downscale {downscale} of {in_channels} channels: {channels} / {blocks}"
            )
        self.register_to_config(latent_channels=channels, block_out_channels=blocks)
        self.encoder = nn.PixelUnshuffle(downscale)
        self.decoder = nn.PixelShuffle(downscale)
        # No weights: this buffer gives the module the dtype and device that `.to()` moves it to,
        # which the pipeline reads (`vae.dtype`) to feed the codec its inputs.
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    @classmethod
    def from_pretrained(cls, folder: str | Path, output_loading_info: bool = False, **_: Any):
        """The codec its folder's config.json describes (a local folder; diffusers' options are moot).

        There are no weights: a weight file in the folder means it holds some other model.
        """
        folder = Path(folder)
        weights = sorted(p.name for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
        if weights:
            raise ValueError(
                f"{str(folder)!r} holds weights ({', '.join(weights)}); a {cls.__name__} has none"
            )
        codec = cls.from_config(cls.load_config(folder))
        info = {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
        return (codec, info) if output_loading_info else codec

    def encode(self, x: torch.Tensor, return_dict: bool = True) -> AutoencoderKLOutput | tuple:
        latents = self.encoder(x)
        # diffusers' posterior holds [mean, logvar]; deterministic: std 0, so sample() == mode().
        posterior = DiagonalGaussianDistribution(torch.cat([latents, torch.zeros_like(latents)], 1), True)
        return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)

    def decode(self, z: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple:
        images = self.decoder(z)
        return DecoderOutput(sample=images) if return_dict else (images,)

    def fuse_qkv_projections(self) -> None:
        """No attention to fuse (`model.optimize` calls this on every VAE)."""

    def unfuse_qkv_projections(self) -> None:
        """No attention to unfuse."""
