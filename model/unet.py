"""The reward-conditioned U-Net: a diffusers UNet2DConditionModel plus a reward condition.

The forward pass follows UNet2DConditionModel.forward for the Stable Diffusion / InstructPix2Pix
configuration and lets the reward condition act at its three places (`RewardCondition`): the time
embedding, right after `conv_in`, and after every down, mid and up block. With our zero-initialised
reward modules the output equals the plain U-Net's.

A checkpoint may add a skip from the source latent to the output (`PipelineConfig.source_skip`).
It is taken from the input's source channels, so the branch that classifier-free guidance gives a
zero source gets no skip either: every branch still predicts what a plain x0 model would.
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


class RewardEditUNet(nn.Module):
    """One module holding the trainable parts (U-Net + reward modules), for sampling and training."""

    def __init__(self, unet: UNet2DConditionModel, reward: RewardCondition, source_skip: float = 0.0) -> None:
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

    @classmethod
    def from_components(cls, components: Components) -> RewardEditUNet:
        """The checkpoint's model; a source skip adds the source latent at the target's scale."""
        skip = components.vae.config.scaling_factor if components.config.source_skip else 0.0
        return cls(components.unet, components.reward, skip)

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
        return sample if skipped is None else sample + self.source_skip * skipped


def _biased(sample: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return sample if bias is None else sample + bias
