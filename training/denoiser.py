"""The trainable module: the reward-conditioned U-Net plus the assembly of its reward condition.

Building c_R inside `forward` keeps every trainable parameter under the one module that
`accelerate` wraps in DistributedDataParallel. The part of the reward path that no row of a batch
uses (the score MLP and type embedding, or the null reward) stays out of the graph, so it gets no
gradient at all rather than a zero gradient, which AdamW's weight decay would still act on.
"""

from __future__ import annotations

import torch
from torch import nn

from model import RewardEditUNet


class RewardDenoiser(nn.Module):
    def __init__(self, net: RewardEditUNet) -> None:
        super().__init__()
        self.net = net

    def forward(
        self,
        noisy_latents: torch.Tensor,
        timesteps: torch.Tensor,
        text_states: torch.Tensor,
        source_latents: torch.Tensor,
        reward_text_states: torch.Tensor,
        scores: torch.Tensor,
        use_reward: torch.Tensor,
        text_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the noise; rows where `use_reward` is False get the learned null reward c_R^0."""
        reward = self.net.reward
        if not use_reward.any():
            condition = reward.null(noisy_latents.shape[0])
        else:
            condition = reward.condition(reward_text_states, scores)
            if not use_reward.all():
                null = reward.null(noisy_latents.shape[0]).to(condition.dtype)
                condition = torch.where(use_reward.view(-1, *[1] * (condition.dim() - 1)), condition, null)
        sample = torch.cat([noisy_latents, source_latents.to(noisy_latents.dtype)], dim=1)
        return self.net(sample, timesteps, text_states, condition, text_mask)
