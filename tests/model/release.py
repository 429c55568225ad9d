"""The paper's released Reward-InsPix2Pix, rebuilt for tests from the published facts, not its code.

`write_release_folder` writes a stock InstructPix2Pix folder whose U-Net weight file also carries
the release's reward modules (six key prefixes, random values). `ReleaseReference` computes what
the release's U-Net does with them, written independently of `model/` with plain tensor ops on
the raw weights and two forward hooks on diffusers' own U-Net, so diffusers' own pipeline samples
the reference edit.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import StableDiffusionInstructPix2PixPipeline
from diffusers.models.embeddings import Timesteps
from safetensors.torch import load_file, save_file

from model import Components, Rewards, build_preset
from model.benchmark import stock_pipeline
from model.text import tokenize

SCORE_FREQUENCIES = 256
HEADS = 8
WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


def release_shapes(text_dim: int, channels: int, time_dim: int) -> dict[str, tuple[int, ...]]:
    """Every key the release adds to the U-Net's state dict, with its shape."""
    scores = 3 * SCORE_FREQUENCIES
    shapes: dict[str, tuple[int, ...]] = {}

    def linear(name: str, n_in: int, n_out: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (n_out, n_in), (n_out,)

    def norm(name: str) -> None:
        shapes[f"{name}.weight"] = shapes[f"{name}.bias"] = (channels,)

    linear("add_embedding.linear_1", scores, time_dim)
    linear("add_embedding.linear_2", time_dim, time_dim)
    linear("add_embedding2.linear_1", scores, channels)
    linear("add_embedding2.linear_2", channels, channels)
    linear("text_linear", text_dim, channels)
    linear("text_linear2", text_dim, time_dim)
    for name in ("query", "key", "value"):
        linear(f"ca.attention.self.{name}", channels, channels)
    linear("ca.attention.output.dense", channels, channels)
    norm("ca.attention.output.LayerNorm")
    linear("ca.hidden_intermediate.dense", channels, channels)
    linear("ca.output.dense", channels, channels)
    norm("ca.output.LayerNorm")
    norm("proj_deal.norm")
    for name in ("proj_in", "proj_out"):
        shapes[f"proj_deal.{name}.weight"] = (channels, channels, 1, 1)
        shapes[f"proj_deal.{name}.bias"] = (channels,)
    return shapes


def write_release_folder(components: Components, folder: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """Save `components` as a stock folder, then add random release reward weights to its U-Net file."""
    stock_pipeline(components).save_pretrained(folder, safe_serialization=True)
    unet = components.unet
    shapes = release_shapes(
        components.text_encoder.config.hidden_size,
        unet.config.block_out_channels[0],
        unet.time_embedding.linear_2.out_features,
    )
    generator = torch.Generator().manual_seed(seed)
    extra = {}
    for key, shape in shapes.items():
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        values = torch.randn(shape, generator=generator) / math.sqrt(fan_in)
        if "Norm" in key or "norm" in key:
            values = (1.0 if key.endswith("weight") else 0.0) + 0.1 * torch.randn(shape, generator=generator)
        extra[key] = values.contiguous()
    path = folder / WEIGHTS
    save_file({**load_file(path), **extra}, path)
    return extra


class ReleaseReference:
    """The release's U-Net forward as hooks on a stock U-Net, for one reward (the same in every branch)."""

    def __init__(
        self, pipe: StableDiffusionInstructPix2PixPipeline, weights: dict[str, torch.Tensor]
    ) -> None:
        self.pipe = pipe
        self.w = weights
        config = pipe.unet.config
        self.timesteps = Timesteps(SCORE_FREQUENCIES, config.flip_sin_to_cos, config.freq_shift)
        self.reward: Rewards | None = None
        pipe.unet.time_embedding.register_forward_hook(self._add_to_time_embedding)
        pipe.unet.conv_in.register_forward_hook(self._attend_after_conv_in)

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def _embed(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return self._linear(F.silu(self._linear(x, f"{name}.linear_1")), f"{name}.linear_2")

    def _inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        reward = self.reward
        scores = torch.tensor([reward.following, reward.preserving, reward.quality])
        encoded = self.timesteps(scores).reshape(1, -1)
        text = f"{reward.following_text}; {reward.preserving_text}; {reward.quality_text}"
        pooled = self.pipe.text_encoder(tokenize(self.pipe.tokenizer, [text]))[1]
        return encoded, pooled

    def _add_to_time_embedding(self, module, args, emb: torch.Tensor) -> torch.Tensor:
        encoded, pooled = self._inputs()
        return emb + self._embed(encoded, "add_embedding") + self._linear(pooled, "text_linear2")

    def _attend_after_conv_in(self, module, args, hidden: torch.Tensor) -> torch.Tensor:
        encoded, pooled = self._inputs()
        tokens = torch.cat([self._embed(encoded, "add_embedding2"), self._linear(pooled, "text_linear")])
        batch, channels, height, width = hidden.shape
        w = self.w
        x = F.group_norm(hidden, 32, w["proj_deal.norm.weight"], w["proj_deal.norm.bias"], eps=1e-6)
        x = F.conv2d(x, w["proj_deal.proj_in.weight"], w["proj_deal.proj_in.bias"])
        x = x.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
        head = channels // HEADS

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(t.shape[0], -1, HEADS, head).permute(0, 2, 1, 3)

        q = heads(self._linear(x, "ca.attention.self.query"))
        k = heads(self._linear(tokens, "ca.attention.self.key").expand(batch, -1, -1))
        v = heads(self._linear(tokens, "ca.attention.self.value").expand(batch, -1, -1))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head), dim=-1)
        context = (probs @ v).permute(0, 2, 1, 3).reshape(batch, height * width, channels)

        def post_norm(y: torch.Tensor, residual: torch.Tensor, name: str) -> torch.Tensor:
            y = self._linear(y, f"{name}.dense") + residual
            return F.layer_norm(
                y, (channels,), w[f"{name}.LayerNorm.weight"], w[f"{name}.LayerNorm.bias"], 1e-12
            )

        attended = post_norm(context, x, "ca.attention.output")
        out = post_norm(F.gelu(self._linear(attended, "ca.hidden_intermediate.dense")), attended, "ca.output")
        out = out.reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        return F.conv2d(out, w["proj_deal.proj_out.weight"], w["proj_deal.proj_out.bias"]) + hidden

    def __call__(self, reward: Rewards, **kwargs):
        self.reward = reward
        return self.pipe(**kwargs)


def release_sized_components() -> Components:
    """A one-level U-Net with the release's hard-coded widths: conv_in 320, time 1280, CLIP 768."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tiny = build_preset("tiny", seed=3)
    tokenizer = tiny.tokenizer
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=8,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(320,),
            down_block_types=("CrossAttnDownBlock2D",),
            up_block_types=("CrossAttnUpBlock2D",),
            cross_attention_dim=768,
            attention_head_dim=8,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=768,
                intermediate_size=256,
                num_hidden_layers=1,
                num_attention_heads=12,
                max_position_embeddings=77,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
    return Components(tiny.vae, text_encoder, tokenizer, unet, tiny.scheduler, tiny.reward)
