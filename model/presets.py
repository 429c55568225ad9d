"""Randomly initialised checkpoints built offline.

`tiny` is for tests, `pixel` (and the older `small`, `small32`) for experiments on the 64 px
synthetic editing world (synth/), and `sd15` for GPU benchmarks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from .checkpoint import Components, save_components
from .codec import PixelShuffleCodec
from .pipeline_config import PipelineConfig
from .release_reward_model import ReleaseRewardConditionModel
from .reward_model import RewardConditionModel
from .vocab import write_vocab_files

MAX_TOKENS = 77


def _tokenizer() -> CLIPTokenizer:
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = write_vocab_files(Path(tmp))
        return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=MAX_TOKENS)


def _scheduler(prediction_type: str = "epsilon") -> EulerAncestralDiscreteScheduler:
    """Stable Diffusion's noise schedule as InstructPix2Pix ships it; on the CPU even under a meta device."""
    with torch.device("cpu"):
        return EulerAncestralDiscreteScheduler(
            num_train_timesteps=1000,
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            prediction_type=prediction_type,
        )


def _text_encoder(tokenizer: CLIPTokenizer, vocab_size: int, **shape) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=vocab_size,
        max_position_embeddings=MAX_TOKENS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )
    return CLIPTextModel(config)


def _vae(
    block_out_channels: tuple[int, ...],
    layers_per_block: int,
    norm_num_groups: int,
    sample_size: int,
    latent_channels: int = 4,
) -> AutoencoderKL:
    """An RGB AutoencoderKL; it downsamples by 2 ** (len(block_out_channels) - 1)."""
    blocks = len(block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=latent_channels,
        layers_per_block=layers_per_block,
        norm_num_groups=norm_num_groups,
        block_out_channels=block_out_channels,
        sample_size=sample_size,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
    )


def _build_tiny(tokenizer: CLIPTokenizer) -> Components:
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=8,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
    )
    text_encoder = _text_encoder(
        tokenizer,
        len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        projection_dim=32,
    )
    vae = _vae((8, 16, 16, 16), layers_per_block=1, norm_num_groups=8, sample_size=64)
    reward = RewardConditionModel.for_unet(unet.config, 32, num_score_tokens=2, score_frequency_dim=32)
    return Components(vae, text_encoder, tokenizer, unet, _scheduler(), reward)


def _synth_components(
    tokenizer: CLIPTokenizer,
    unet: UNet2DConditionModel,
    vae: Callable[[int], AutoencoderKL | PixelShuffleCodec],
) -> Components:
    """A 64 px synthetic-world checkpoint around `unet`; `vae(latent channels)` gives the latents it takes.

    v-prediction: a U-Net trained from scratch for minutes still gives structured samples, where an
    epsilon-predicting one leaves its last steps' errors as visible noise.
    """
    text_encoder = _text_encoder(
        tokenizer,
        len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=3,
        num_attention_heads=4,
        projection_dim=128,
    )
    autoencoder = vae(unet.config.out_channels)
    reward = RewardConditionModel.for_unet(unet.config, 128, num_score_tokens=2, score_frequency_dim=32)
    return Components(autoencoder, text_encoder, tokenizer, unet, _scheduler("v_prediction"), reward)


def _synth_vae(block_out_channels: tuple[int, ...]) -> Callable[[int], AutoencoderKL]:
    return lambda latent_channels: _vae(
        block_out_channels,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        latent_channels=latent_channels,
    )


def _synth_unet(
    sample_size: int, latent_channels: int, widths: tuple[int, ...], words_everywhere: bool = False
) -> UNet2DConditionModel:
    """Convolution-only levels, then attention at the last two (8x8 and 4x4); `widths` per level.

    Where the latents are pixels, the first level needs at least the input's channels (noisy and
    source latents), or a cell cannot carry what it must reproduce.

    Attention starts at 8x8 (one cell per 8 px of a 64 px image, enough to find a named shape or
    corner): at 16x16 (256 tokens) self-attention took half of a CPU training step. With
    `words_everywhere` every level reads the instruction, the full-resolution ones through
    cross-attention only (no self-attention): without it, the words' difference that the 8x8 level
    carries was lost in the last, convolution-only level (docs/synthetic-experiment.md, run 5).
    """
    plain_levels = 0 if words_everywhere else len(widths) - 2
    # Levels above 8x8 get cross-attention only: self-attention over 256+ cells is what cost.
    words_only = tuple(i < len(widths) - 2 for i in range(len(widths))) if words_everywhere else False
    attention_levels = len(widths) - plain_levels
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=2 * latent_channels,
        out_channels=latent_channels,
        layers_per_block=1,
        block_out_channels=widths,
        norm_num_groups=16,
        down_block_types=("DownBlock2D",) * plain_levels + ("CrossAttnDownBlock2D",) * attention_levels,
        up_block_types=("CrossAttnUpBlock2D",) * attention_levels + ("UpBlock2D",) * plain_levels,
        cross_attention_dim=128,
        attention_head_dim=4,
        only_cross_attention=words_only,
    )


def _keep_token_identity(text_encoder: CLIPTextModel) -> CLIPTextModel:
    """A random text encoder whose output states still say which word sits where: a pretraining stand-in.

    At CLIP's initialisation the attention and MLP branches, fed layer-normalised states, dwarf the
    token embeddings (std 0.02) in the residual stream, so every output state is nearly the same
    blend: "change the background to brown" and "... blue" reach the U-Net as the same states
    (cosine 0.95-0.97 even at the colour word). Unit-variance token embeddings, position embeddings
    at half that, and branch outputs scaled by 0.3 keep each output state near its own word and
    place (colour words: cosine about 0.05), as a pretrained CLIP's states are; the branches still
    mix in some context ("the red square blue" is not "the blue square red").
    """
    embeddings = text_encoder.embeddings
    with torch.no_grad():
        embeddings.token_embedding.weight.normal_(0.0, 1.0)
        embeddings.position_embedding.weight.normal_(0.0, 0.5)
        for layer in text_encoder.encoder.layers:
            layer.self_attn.out_proj.weight.mul_(0.3)
            layer.mlp.fc2.weight.mul_(0.3)
    return text_encoder


def _build_pixel(tokenizer: CLIPTokenizer) -> Components:
    """64 px images as 16x16x48 latents through a lossless codec: the synthetic world's CPU preset.

    The codec (model/codec.py) folds each 4x4 pixel block into a latent cell, so nothing the oracle
    measures is lost and there is no VAE to pretrain; its scaling factor is 1/std of the world's
    pixels (0.594 in [-1, 1] on the benchmark sources). The U-Net is `small`'s with 96 channels at
    16x16, enough to carry a cell's 48 noisy and 48 source values, reading the instruction at every
    level; the text encoder keeps each word apart (`_keep_token_identity`), cross-attention reads
    only the words, and the model starts out copying the source (`_copy_source_first`).
    """
    codec = PixelShuffleCodec(in_channels=3, downscale=4, scaling_factor=1.68)
    components = _synth_components(
        tokenizer, _synth_unet(16, codec.config.latent_channels, (96, 128, 128), True), lambda _: codec
    )
    components.text_encoder = _keep_token_identity(components.text_encoder)
    components.config = PipelineConfig(mask_text_padding=True)  # the words, not 70 padding tokens
    return _zero_terminal_snr(_copy_source_first(components))


def _zero_terminal_snr(components: Components) -> Components:
    """Stable Diffusion's noise schedule rescaled so its last timestep is pure noise (Lin et al., 2024).

    With the schedule as InstructPix2Pix ships it, x_t at t = 999 still holds 6.8% of the target
    (19% at t = 800). Summed over a latent, that is enough to read a whole-image edit off the noisy
    target, so a U-Net trained from scratch learns to find the edit in x_t instead of in the words;
    sampling starts from noise that holds no target, and what it reads there is a random edit: blobs
    in the same places whatever the instruction (docs/synthetic-experiment.md, run 6). At zero
    terminal SNR the first sampling step sees only the source and the instruction, as in training.
    "trailing" spacing makes that first step t = 999.
    """
    own = components.scheduler
    components.scheduler = type(own).from_config(
        own.config, rescale_betas_zero_snr=True, timestep_spacing="trailing"
    )
    return components


def _copy_source_first(components: Components) -> Components:
    """x0 prediction plus a skip from the source latent, `conv_out` zeroed: a fresh model copies the source.

    A pretrained InstructPix2Pix already reproduces what an edit leaves alone; from scratch, the
    U-Net spent thousands of steps learning to (docs/synthetic-experiment.md, run 5). The sampler
    becomes Euler: diffusers' Euler ancestral cannot sample an x0-predicting model.
    """
    own = components.scheduler.config
    components.scheduler = EulerDiscreteScheduler.from_config(own, prediction_type="sample")
    components.config = replace(components.config, source_skip=True)
    with torch.no_grad():
        components.unet.conv_out.weight.zero_()
        components.unet.conv_out.bias.zero_()
    return components


def _build_small(tokenizer: CLIPTokenizer) -> Components:
    """64 px images and 16x16x16 latents, small enough to learn visible synthetic edits on a CPU.

    16 latent channels (3x compression where Stable Diffusion's 4 give 12x) let a VAE this small keep
    the world's 2-4 px textures and flat colours; the U-Net's cost barely depends on them.
    Its VAE is random like every preset's: pretrain it with `rewardedit train-vae` before training edits.
    """
    return _synth_components(tokenizer, _synth_unet(16, 16, (32, 64, 128)), _synth_vae((16, 32, 64)))


def _build_small32(tokenizer: CLIPTokenizer) -> Components:
    """`small` with 32x32x4 latents: the same 4,096 latent values, one VAE downsampling fewer.

    On a CPU, its VAE lets about twice as many exact edits pass the oracle's preserving test after a
    round trip, in fewer steps (docs/synthetic-experiment.md). The price is a U-Net level at 32x32
    (about 3x the CPU time of a `small` training step): it is for GPUs.
    """
    return _synth_components(tokenizer, _synth_unet(32, 4, (32, 64, 128, 128)), _synth_vae((32, 64)))


def _build_sd15(tokenizer: CLIPTokenizer) -> Components:
    """The shapes of Stable Diffusion 1.5 InstructPix2Pix (U-Net 320/640/1280/1280, CLIP ViT-L/14)."""
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=8,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    text_encoder = _text_encoder(
        tokenizer,
        49408,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        projection_dim=768,
        hidden_act="quick_gelu",
    )
    vae = _vae((128, 256, 512, 512), layers_per_block=2, norm_num_groups=32, sample_size=512)
    reward = RewardConditionModel.for_unet(unet.config, 768)
    return Components(vae, text_encoder, tokenizer, unet, _scheduler(), reward)


PRESETS: dict[str, Callable[[CLIPTokenizer], Components]] = {
    "tiny": _build_tiny,
    "pixel": _build_pixel,
    "small": _build_small,
    "small32": _build_small32,
    "sd15": _build_sd15,
}


# The reward-condition architectures a preset can carry (`RewardCondition.architecture`).
REWARD_ARCHITECTURES = (RewardConditionModel.architecture, ReleaseRewardConditionModel.architecture)


def build_preset(name: str, seed: int = 0, reward_architecture: str = "rewardedit") -> Components:
    """Randomly initialised components of a preset, reproducible from seed; no network access.

    `reward_architecture` "reward-inspix2pix" swaps our reward condition for the paper's released
    one (randomly initialised, as the release has no zero init), e.g. to measure its cost.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    if reward_architecture not in REWARD_ARCHITECTURES:
        raise ValueError(
            f"unknown reward architecture {reward_architecture!r}; "
            f"choose from {', '.join(REWARD_ARCHITECTURES)}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        components = PRESETS[name](_tokenizer())
        if reward_architecture == ReleaseRewardConditionModel.architecture:
            text_dim = components.text_encoder.config.hidden_size
            components.reward = ReleaseRewardConditionModel.for_unet(components.unet.config, text_dim)
        return components


def make_model(
    name: str, out_dir: str | Path, seed: int = 0, reward_architecture: str = "rewardedit"
) -> Path:
    """Write a preset checkpoint folder (the `rewardedit make-model` command)."""
    return save_components(build_preset(name, seed, reward_architecture), out_dir)
