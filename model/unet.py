"""The reward-conditioned U-Net: a diffusers UNet2DConditionModel plus a reward condition.

The forward pass follows UNet2DConditionModel.forward for the Stable Diffusion / InstructPix2Pix
configuration and lets the reward condition act at its three places (`RewardCondition`): the time
embedding, right after `conv_in`, and after every down, mid and up block. With our zero-initialised
reward modules the output equals the plain U-Net's.

A checkpoint may add a skip from the source latent to the output (`PipelineConfig.source_skip`).
It is taken from the input's source channels, so the branch that classifier-free guidance gives a
zero source gets no skip either: every branch still predicts what a plain x0 model would. With
`PipelineConfig.noisy_skip` the skip also keeps what the noisy latent already shows (`NoisySkip`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from .reward_condition import RewardCondition

if TYPE_CHECKING:
    from .checkpoint import Components

_UNSUPPORTED = ("class_embed_type", "addition_embed_type", "encoder_hid_dim_type")
# The spread (RMS, scaled latents) of target minus source that `NoisySkip` assumes: 0.62 on the
# synthetic world's noisy triplets, whose degradations touch every pixel.
EDIT_SPREAD = 0.6


class NoisySkip:
    """x0 = c_skip x + (1 - c_skip) s + c_out F: Karras et al.'s (2022) preconditioning about the source.

    With x0 = s + F alone the U-Net must redraw, from its own features, the target that a barely
    noisy x already shows: at t = 20 such a model's x0 was further from the target than x itself
    (14 against 8.5 / 255 after 2000 steps; docs/synthetic-experiment.md, run 18), and every
    sample kept that haze. Here the output starts as the best linear guess from x and the source
    (the target taken as the source plus an edit of spread `EDIT_SPREAD`): the source at pure noise,
    x itself at none; the U-Net adds what that guess misses, scaled by its uncertainty c_out.
    """

    def __init__(self, alphas_cumprod: torch.Tensor, spread: float = EDIT_SPREAD) -> None:
        self.alphas_cumprod = alphas_cumprod.double().cpu()
        self.spread = spread

    def __call__(
        self,
        noisy: torch.Tensor,
        prior: torch.Tensor,
        output: torch.Tensor,
        timestep: torch.Tensor | float | int,
    ) -> torch.Tensor:
        """`noisy` is x_t = a x0 + s eps as training noises it (the Euler sampler's scaled input)."""
        alpha_bar = self._alpha_bar(timestep, noisy.shape[0]).view(-1, 1, 1, 1)
        a, s, spread2 = alpha_bar.sqrt(), (1 - alpha_bar).sqrt(), self.spread**2
        denominator = spread2 * alpha_bar + s**2  # (spread^2 + sigma^2) alpha_bar: finite at pure noise
        c_noisy, c_prior = spread2 * a / denominator, s**2 / denominator
        c_out = self.spread * s / denominator.sqrt()
        to = dict(device=output.device, dtype=output.dtype)
        return c_noisy.to(**to) * noisy + c_prior.to(**to) * prior + c_out.to(**to) * output

    def _alpha_bar(self, timestep: torch.Tensor | float | int, batch: int) -> torch.Tensor:
        """alphas_cumprod at each (possibly fractional) timestep, interpolated linearly."""
        t = (
            torch.as_tensor(timestep, dtype=torch.float64)
            .cpu()
            .flatten()
            .expand(batch)
            .clamp(0, len(self.alphas_cumprod) - 1)
        )
        low = t.floor().long()
        high = (low + 1).clamp(max=len(self.alphas_cumprod) - 1)
        weight = t - low
        return (1 - weight) * self.alphas_cumprod[low] + weight * self.alphas_cumprod[high]


class RewardEditUNet(nn.Module):
    """One module holding the trainable parts (U-Net + reward modules), for sampling and training."""

    def __init__(
        self,
        unet: UNet2DConditionModel,
        reward: RewardCondition,
        source_skip: float = 0.0,
        noisy_skip: NoisySkip | None = None,
    ) -> None:
        super().__init__()
        for key in _UNSUPPORTED:
            if unet.config.get(key) is not None:
                raise ValueError(
                    f"U-Net config sets {key}={unet.config.get(key)!r}, which RewardEdit does not support"
                )
        reward.check_unet(unet)
        self.unet = unet
        self.reward = reward
        self.source_skip = source_skip
        self.noisy_skip = noisy_skip

    @classmethod
    def from_components(cls, components: Components) -> RewardEditUNet:
        """The checkpoint's model; a source skip adds the source latent at the target's scale."""
        config = components.config
        skip = components.vae.config.scaling_factor if config.source_skip else 0.0
        noisy = NoisySkip(components.scheduler.alphas_cumprod) if config.noisy_skip else None
        return cls(components.unet, components.reward, skip, noisy)

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        reward_condition: torch.Tensor,
        text_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`text_mask` (batch, tokens), True where cross-attention may look; None: everywhere."""
        unet = self.unet
        # What UNet2DConditionModel.forward makes of an encoder_attention_mask: a bias per key.
        text_bias = None if text_mask is None else ((~text_mask).to(sample.dtype) * -10000.0).unsqueeze(1)
        skipped = sample[:, -unet.config.out_channels :] if self.source_skip else None
        noisy = sample[:, : unet.config.out_channels]
        up_factor = 2**unet.num_upsamplers
        forward_upsample_size = any(dim % up_factor for dim in sample.shape[-2:])

        reward = self.reward
        emb = unet.time_embedding(unet.get_time_embed(sample=sample, timestep=timestep), None)
        reward_emb = reward.time_embedding(reward_condition)
        if reward_emb is not None:
            emb = emb + reward_emb
        if unet.time_embed_act is not None:
            emb = unet.time_embed_act(emb)
        biases = reward.after_blocks(reward_condition)
        if biases is None:
            biases = [None] * (len(unet.down_blocks) + 1 + len(unet.up_blocks))
        biases = iter(biases)

        sample = reward.after_conv_in(unet.conv_in(sample), reward_condition)
        residuals: tuple[torch.Tensor, ...] = (sample,)
        for block in unet.down_blocks:
            if getattr(block, "has_cross_attention", False):
                sample, res = block(
                    hidden_states=sample,
                    temb=emb,
                    encoder_hidden_states=encoder_hidden_states,
                    encoder_attention_mask=text_bias,
                )
            else:
                sample, res = block(hidden_states=sample, temb=emb)
            sample = _biased(sample, next(biases))
            residuals += res

        if unet.mid_block is not None:
            if getattr(unet.mid_block, "has_cross_attention", False):
                sample = unet.mid_block(
                    sample, emb, encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=text_bias
                )
            else:
                sample = unet.mid_block(sample, emb)
        sample = _biased(sample, next(biases))

        for i, block in enumerate(unet.up_blocks):
            res = residuals[-len(block.resnets) :]
            residuals = residuals[: -len(block.resnets)]
            is_final = i == len(unet.up_blocks) - 1
            upsample_size = residuals[-1].shape[2:] if forward_upsample_size and not is_final else None
            if getattr(block, "has_cross_attention", False):
                sample = block(
                    hidden_states=sample,
                    temb=emb,
                    res_hidden_states_tuple=res,
                    encoder_hidden_states=encoder_hidden_states,
                    upsample_size=upsample_size,
                    encoder_attention_mask=text_bias,
                )
            else:
                sample = block(
                    hidden_states=sample, temb=emb, res_hidden_states_tuple=res, upsample_size=upsample_size
                )
            sample = _biased(sample, next(biases))

        if unet.conv_norm_out is not None:
            sample = unet.conv_act(unet.conv_norm_out(sample))
        sample = unet.conv_out(sample)
        if skipped is None:
            return sample
        if self.noisy_skip is not None:
            return self.noisy_skip(noisy, self.source_skip * skipped, sample, timestep)
        return sample + self.source_skip * skipped


def _biased(sample: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return sample if bias is None else sample + bias
