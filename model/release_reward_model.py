"""The reward condition inside the paper's released Reward-InsPix2Pix weights, computed as its code does.

The release (github.com/bytedance/Multi-Reward-Editing, `stage2_reward_instruct_pix2pix`) keeps
its reward modules inside `unet/diffusion_pytorch_model.safetensors`, under six key prefixes. This
module uses the same names, so its state dict is those keys with nothing renamed:

- scores: each score -> the U-Net's own 256-d sinusoidal timestep projection (raw 0-5 values, the
  U-Net's flip_sin_to_cos / freq_shift); the three concatenated -> `add_embedding` (added to the
  time embedding) and `add_embedding2` (a token);
- texts: "T_f; T_p; T_q" -> frozen CLIP's pooled output -> `text_linear2` (added to the time
  embedding) and `text_linear` (a token);
- after `conv_in`: GroupNorm, 1x1 conv, a BERT-style cross-attention layer (`ca`) over the two
  tokens, 1x1 conv, residual (`proj_deal`).

It was trained without reward dropout, so it has no learned null reward.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, get_timestep_embedding
from torch import nn

from .reward_condition import RewardCondition
from .rewards import Rewards

# Where the release stores its reward modules inside the U-Net's state dict.
RELEASE_PREFIXES = ("add_embedding.", "add_embedding2.", "text_linear.", "text_linear2.", "ca.", "proj_deal.")


def is_release_key(key: str) -> bool:
    return key.startswith(RELEASE_PREFIXES)


class _AttentionOutput(nn.Module):
    """Projection, dropout, then LayerNorm over the residual sum (post-norm, as BERT)."""

    def __init__(self, width_in: int, width: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(width_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class _QueryKeyValue(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)


class _CrossAttention(nn.Module):
    def __init__(self, width: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.self = _QueryKeyValue(width)  # the release's key name for the q/k/v projections
        self.output = _AttentionOutput(width, width, eps, dropout)


class _Intermediate(nn.Module):
    def __init__(self, width: int, intermediate: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, intermediate)


class ReleaseCrossAttentionLayer(nn.Module):
    """Latent tokens attend to the reward tokens; post-norm attention and feed-forward (exact GELU)."""

    def __init__(self, width: int, heads: int, intermediate: int, eps: float, dropout: float) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"release reward attention: {width} channels do not split into {heads} heads")
        self.heads = heads
        self.dropout = dropout
        self.attention = _CrossAttention(width, eps, dropout)
        self.hidden_intermediate = _Intermediate(width, intermediate)
        self.output = _AttentionOutput(intermediate, width, eps, dropout)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        qkv = self.attention.self
        q, k, v = (
            x.unflatten(-1, (self.heads, -1)).transpose(1, 2)
            for x in (qkv.query(queries), qkv.key(context), qkv.value(context))
        )
        dropout = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout).transpose(1, 2).flatten(2)
        hidden = self.attention.output(attended, queries)
        intermediate = F.gelu(self.hidden_intermediate.dense(hidden))
        return self.output(intermediate, hidden)


class _Projection(nn.Module):
    def __init__(self, channels: int, groups: int, eps: float) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=eps)
        self.proj_in = nn.Conv2d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)


class ReleaseRewardConditionModel(RewardCondition):
    """The release's reward condition. A condition row is [score encodings (3F), pooled text (D)]."""

    architecture = "reward-inspix2pix"
    text_output = "pooler_output"
    has_null_condition = False

    @register_to_config
    def __init__(
        self,
        text_dim: int = 768,
        channels: int = 320,
        time_embed_dim: int = 1280,
        score_frequency_dim: int = 256,
        flip_sin_to_cos: bool = True,
        freq_shift: float = 0.0,
        num_attention_heads: int = 8,
        intermediate_size: int = 320,
        layer_norm_eps: float = 1e-12,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-6,
        dropout: float = 0.1,
        use_scores: bool = True,
        use_texts: bool = True,
    ) -> None:
        super().__init__()
        score_dim = 3 * score_frequency_dim
        self.add_embedding = TimestepEmbedding(score_dim, time_embed_dim)
        self.add_embedding2 = TimestepEmbedding(score_dim, channels)
        self.text_linear = nn.Linear(text_dim, channels)
        self.text_linear2 = nn.Linear(text_dim, time_embed_dim)
        self.ca = ReleaseCrossAttentionLayer(
            channels, num_attention_heads, intermediate_size, layer_norm_eps, dropout
        )
        self.proj_deal = _Projection(channels, norm_num_groups, norm_eps)

    @classmethod
    def for_unet(cls, unet_config, text_dim: int) -> ReleaseRewardConditionModel:
        """Randomly initialised modules shaped for a U-Net config (the release's SD-1.5 shapes for sd15)."""
        channels = unet_config.block_out_channels[0]
        return cls(
            text_dim=text_dim,
            channels=channels,
            time_embed_dim=unet_config.time_embedding_dim or 4 * channels,
            flip_sin_to_cos=unet_config.flip_sin_to_cos,
            freq_shift=unet_config.freq_shift,
        )

    @classmethod
    def from_unet_weights(
        cls, weights: Mapping[str, torch.Tensor], unet_config, text_dim: int
    ) -> ReleaseRewardConditionModel:
        """The modules stored among a release U-Net's weights; every key must be used, none missing."""
        shapes = {key: tuple(value.shape) for key, value in weights.items()}
        try:
            channels, text_in = shapes["text_linear.weight"]
            time_embed_dim = shapes["text_linear2.weight"][0]
            score_dim = shapes["add_embedding.linear_1.weight"][1]
            intermediate = shapes["ca.hidden_intermediate.dense.weight"][0]
        except KeyError as exc:
            raise ValueError(f"the U-Net's release reward weights lack {exc.args[0]!r}") from exc
        if text_in != text_dim:
            raise ValueError(
                f"release reward text_linear reads {text_in}-d text, the text encoder gives {text_dim}"
            )
        if score_dim % 3:
            raise ValueError(f"release score embedding input of {score_dim} is not three score encodings")
        model = cls(
            text_dim=text_dim,
            channels=channels,
            time_embed_dim=time_embed_dim,
            score_frequency_dim=score_dim // 3,
            flip_sin_to_cos=unet_config.flip_sin_to_cos,
            freq_shift=unet_config.freq_shift,
            intermediate_size=intermediate,
        )
        # strict: a missing, extra or misshapen weight is an error, never a silently random module.
        model.load_state_dict(dict(weights), strict=True)
        return model

    def check_unet(self, unet) -> None:
        config = self.config
        if unet.config.block_out_channels[0] != config.channels:
            raise ValueError(
                f"release reward modules have {config.channels} channels, the U-Net's conv_in gives "
                f"{unet.config.block_out_channels[0]}"
            )
        if unet.time_embedding.linear_2.out_features != config.time_embed_dim:
            raise ValueError("release reward modules do not match the U-Net's time embedding width")

    def prompt(self, rewards: Rewards) -> str:
        """The three texts joined as the release joins them: "T_f; T_p; T_q" ("None; None; None" at best)."""
        return "; ".join((rewards.following_text, rewards.preserving_text, rewards.quality_text))

    def condition(self, text_features: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """[sinusoidal encodings of the raw scores (B, 3F), pooled reward text (B, D)]."""
        if text_features.dim() != 2:
            shape = tuple(text_features.shape)
            raise ValueError(f"release reward condition reads pooled text (B, D), got {shape}")
        config = self.config
        if not config.use_texts:
            text_features = torch.zeros_like(text_features)
        if not config.use_scores:
            scores = torch.zeros_like(scores)
        encoded = get_timestep_embedding(
            scores.reshape(-1).float(),
            config.score_frequency_dim,
            flip_sin_to_cos=config.flip_sin_to_cos,
            downscale_freq_shift=config.freq_shift,
        )
        dtype = self.text_linear.weight.dtype
        encoded = encoded.reshape(scores.shape[0], -1).to(dtype)
        return torch.cat([encoded, text_features.to(dtype)], dim=-1)

    def _split(self, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        score_dim = 3 * self.config.score_frequency_dim
        return condition[:, :score_dim], condition[:, score_dim:]

    def time_embedding(self, condition: torch.Tensor) -> torch.Tensor:
        scores, text = self._split(condition)
        return self.add_embedding(scores) + self.text_linear2(text)

    def after_conv_in(self, hidden: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        scores, text = self._split(condition)
        tokens = torch.stack([self.add_embedding2(scores), self.text_linear(text)], dim=1)
        batch, channels, height, width = hidden.shape
        proj = self.proj_deal
        queries = proj.proj_in(proj.norm(hidden)).flatten(2).transpose(1, 2)  # (B, HW, C)
        attended = self.ca(queries, tokens).transpose(1, 2).reshape(batch, channels, height, width)
        return hidden + proj.proj_out(attended)
