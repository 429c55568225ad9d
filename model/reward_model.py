"""Our reward condition, as the paper describes it: the multi-reward condition (MRC), a reward encoder
after `conv_in` and per-block biases, with zero-initialised outputs and a learned null reward.

They live in one diffusers `ModelMixin` so a checkpoint's `reward/` folder is a plain
`config.json` + safetensors pair, saved and loaded by the same code as every other component.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from torch import nn

from .reward_condition import RewardCondition
from .rewards import NO_PROBLEM, PERSPECTIVES, Rewards

TEXT_TYPE, SCORE_TYPE = 0, 1


def sinusoidal_encoding(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Encode float values (B,) as (B, dim) cos/sin features, as a timestep embedding does."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half
    angles = values.float()[:, None] * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class ScoreEmbedding(nn.Module):
    """E_s = MLP(concat[PE(s_f), PE(s_p), PE(s_q)]) as `num_tokens` tokens of width `dim`."""

    def __init__(self, dim: int, frequency_dim: int, score_scale: float, num_tokens: int) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        # Scores live in [0, 5]; scaling them to the range of diffusion timesteps (0..1000)
        # makes neighbouring scores (4 and 5) land on clearly different encodings.
        self.score_scale = score_scale
        self.num_tokens = num_tokens
        self.mlp = nn.Sequential(
            nn.Linear(3 * frequency_dim, dim * 4),
            nn.SiLU(),
            nn.Linear(dim * 4, dim * num_tokens),
        )

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        batch = scores.shape[0]
        encoded = sinusoidal_encoding(scores.reshape(-1) * self.score_scale, self.frequency_dim)
        encoded = encoded.reshape(batch, 3 * self.frequency_dim).to(self.mlp[0].weight.dtype)
        return self.mlp(encoded).reshape(batch, self.num_tokens, -1)


class RewardEncoderBlock(nn.Module):
    """One transformer block: latent tokens attend to Linear1(c_R); zero-init outputs make it the identity."""

    def __init__(self, channels: int, condition_dim: int, num_heads: int, ff_mult: int = 4) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"reward encoder: {channels} channels do not split into {num_heads} heads")
        self.num_heads = num_heads
        self.context_proj = nn.Linear(condition_dim, channels)  # the paper's Linear1
        self.norm_attn = nn.LayerNorm(channels)
        self.norm_context = nn.LayerNorm(channels)
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_kv = nn.Linear(channels, 2 * channels, bias=False)
        self.to_out = nn.Linear(channels, channels)
        self.norm_ff = nn.LayerNorm(channels)
        self.ff = nn.Sequential(
            nn.Linear(channels, channels * ff_mult),
            nn.GELU(),
            nn.Linear(channels * ff_mult, channels),
        )
        for layer in (self.to_out, self.ff[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, hidden: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = hidden.shape
        tokens = hidden.flatten(2).transpose(1, 2)  # (B, HW, C)
        context = self.norm_context(self.context_proj(condition))
        q = self.to_q(self.norm_attn(tokens))
        k, v = self.to_kv(context).chunk(2, dim=-1)
        q, k, v = (x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for x in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        tokens = tokens + self.to_out(attended)
        tokens = tokens + self.ff(self.norm_ff(tokens))
        return tokens.transpose(1, 2).reshape(batch, channels, height, width)


class RewardConditionModel(RewardCondition):
    """Builds c_R from scores and reward-text states, and injects it into a U-Net's activations.

    `block_channels` lists the output channels of every U-Net block in execution order
    (down blocks, mid block, up blocks): one zero-initialised bias projection (Linear2_i) each.
    `use_scores` / `use_texts` switch an input off for the paper's ablations (score only, text only,
    no reward): the condition then ignores it, so every variant trains the same modules.
    """

    architecture = "rewardedit"
    text_output = "last_hidden_state"
    has_null_condition = True

    @register_to_config
    def __init__(
        self,
        condition_dim: int = 768,
        latent_channels: int = 320,
        block_channels: tuple[int, ...] = (320, 640, 1280, 1280, 1280, 1280, 1280, 640, 320),
        num_text_tokens: int = 77,
        num_score_tokens: int = 4,
        score_frequency_dim: int = 128,
        score_scale: float = 200.0,
        num_attention_heads: int = 8,
        use_scores: bool = True,
        use_texts: bool = True,
    ) -> None:
        super().__init__()
        self.score_embedding = ScoreEmbedding(
            condition_dim, score_frequency_dim, score_scale, num_score_tokens
        )
        self.type_embedding = nn.Embedding(2, condition_dim)
        self.null_condition = nn.Parameter(
            torch.randn(num_text_tokens + num_score_tokens, condition_dim) * 0.02
        )
        self.encoder = RewardEncoderBlock(latent_channels, condition_dim, num_attention_heads)
        self.block_biases = nn.ModuleList(nn.Linear(2 * condition_dim, ch) for ch in block_channels)
        for layer in self.block_biases:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @classmethod
    def for_unet(cls, unet_config, condition_dim: int, **kwargs) -> RewardConditionModel:
        """A zero-initialised reward model shaped for a diffusers UNet2DConditionModel config."""
        channels = list(unet_config.block_out_channels)
        block_channels = [*channels, channels[-1], *reversed(channels)]
        heads = kwargs.pop("num_attention_heads", 8 if channels[0] % 8 == 0 else 1)
        return cls(
            condition_dim=condition_dim,
            latent_channels=channels[0],
            block_channels=tuple(block_channels),
            num_attention_heads=heads,
            **kwargs,
        )

    def check_unet(self, unet) -> None:
        if len(self.block_biases) != len(unet.down_blocks) + 1 + len(unet.up_blocks):
            raise ValueError("reward model's block_channels do not match the U-Net's blocks")

    def prompt(self, rewards: Rewards) -> str:
        """The paper's Concat[T_f, T_p, T_q], each text named by its perspective."""
        texts = (rewards.following_text, rewards.preserving_text, rewards.quality_text)
        return "; ".join(
            f"{name}: {text.strip() or NO_PROBLEM}" for name, text in zip(PERSPECTIVES, texts, strict=True)
        )

    def condition(self, text_states: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """c_R = concat[E_t, E_s] + type embedding; text_states (B, T, D), scores (B, 3) -> (B, T + S, D)."""
        expected = self.config.num_text_tokens
        if text_states.shape[1] != expected:
            raise ValueError(f"reward text states have {text_states.shape[1]} tokens, expected {expected}")
        if not self.config.use_texts:
            text_states = torch.zeros_like(text_states)
        if not self.config.use_scores:
            scores = torch.zeros_like(scores)
        dtype = self.type_embedding.weight.dtype
        text = text_states.to(dtype) + self.type_embedding.weight[TEXT_TYPE]
        score = self.score_embedding(scores) + self.type_embedding.weight[SCORE_TYPE]
        return torch.cat([text, score], dim=1)

    def null(self, batch_size: int) -> torch.Tensor:
        """The learned "no reward given" condition c_R^0, for reward dropout and reward guidance."""
        return self.null_condition.unsqueeze(0).expand(batch_size, -1, -1)

    def after_conv_in(self, hidden: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.encoder(hidden, condition)

    def after_blocks(self, condition: torch.Tensor) -> list[torch.Tensor]:
        """Linear2_i(pooled c_R) for every block, shaped (B, C_i, 1, 1) to add per channel."""
        num_text = self.config.num_text_tokens
        pooled = torch.cat([condition[:, :num_text].mean(1), condition[:, num_text:].mean(1)], dim=-1)
        return [layer(pooled)[:, :, None, None] for layer in self.block_biases]
