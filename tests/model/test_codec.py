"""The lossless codec: exact round trips, and checkpoints with it load, save and edit like any other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from model import CheckpointError, RewardEditPipeline, Rewards, build_preset, load_components, save_components
from model.codec import PixelShuffleCodec
from model.image import image_to_tensor, tensor_to_images

from .helpers import pixels


@pytest.fixture(scope="module")
def pixel_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    components = build_preset("pixel")
    with torch.no_grad():  # the preset zeroes conv_out (it starts by copying); make the U-Net count
        components.unet.conv_out.weight.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(0))
    return save_components(components, tmp_path_factory.mktemp("pixel") / "ckpt")


def test_round_trip_returns_every_image_bit_for_bit():
    codec = PixelShuffleCodec(downscale=4, scaling_factor=1.68)
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    x = torch.cat([image_to_tensor(Image.fromarray(image)) for image in images])
    posterior = codec.encode(x).latent_dist
    assert posterior.mode().shape == (3, 48, 16, 16) and codec.config.latent_channels == 48
    assert torch.equal(posterior.mean, posterior.mode()) and not posterior.std.any()
    assert torch.equal(posterior.sample(torch.Generator().manual_seed(0)), posterior.mode())
    decoded = codec.decode(posterior.mode(), return_dict=False)[0]
    assert torch.equal(decoded, x)
    assert np.array_equal(np.stack([np.asarray(i) for i in tensor_to_images(decoded)]), images)


def test_config_reads_like_a_vae_and_refuses_inconsistent_shapes():
    codec = PixelShuffleCodec(downscale=4)
    assert 2 ** (len(codec.config.block_out_channels) - 1) == 4  # the pipeline's vae_scale_factor
    assert PixelShuffleCodec.from_config(codec.config).config == codec.config
    with pytest.raises(ValueError, match="do not fit"):
        PixelShuffleCodec(downscale=4, latent_channels=12)
    with pytest.raises(ValueError, match="power of 2"):
        PixelShuffleCodec(downscale=3)


def test_a_pixel_checkpoint_loads_saves_and_edits_the_same(pixel_checkpoint, tmp_path, source_image):
    index = json.loads((pixel_checkpoint / "model_index.json").read_text())
    assert index["vae"] == ["model.codec", "PixelShuffleCodec"]
    assert [p.name for p in (pixel_checkpoint / "vae").iterdir()] == ["config.json"]
    pipe = RewardEditPipeline.from_pretrained(pixel_checkpoint)
    assert isinstance(pipe.components.vae, PixelShuffleCodec) and pipe.vae_scale_factor == 4
    pipe.save_pretrained(tmp_path / "saved")
    loaded = RewardEditPipeline.from_pretrained(tmp_path / "saved")
    assert loaded.components.vae.config == pipe.components.vae.config

    def run(p: RewardEditPipeline) -> np.ndarray:
        out = p(
            image=source_image,
            instruction="make the red square blue",
            rewards=Rewards(),
            num_inference_steps=2,
            generator=torch.Generator().manual_seed(3),
        )
        return pixels(out.images[0])

    assert np.array_equal(run(pipe), run(loaded))


def test_autoencoderkl_checkpoints_still_name_their_class(tiny_checkpoint):
    index = json.loads((tiny_checkpoint / "model_index.json").read_text())
    assert index["vae"] == ["diffusers", "AutoencoderKL"]
    assert type(load_components(tiny_checkpoint).vae).__name__ == "AutoencoderKL"


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (
            lambda vae: save_file({"w": torch.zeros(1)}, vae / "diffusion_pytorch_model.safetensors"),
            "has none",
        ),
        (lambda vae: _set_class(vae, "Autoencoder9000"), "unknown class 'Autoencoder9000'"),
        (lambda vae: (vae / "config.json").unlink(), "no readable VAE config"),
    ],
)
def test_a_bad_vae_folder_fails_loudly(pixel_checkpoint, tmp_path, spoil, message):
    folder = shutil.copytree(pixel_checkpoint, tmp_path / "bad")
    spoil(folder / "vae")
    with pytest.raises(CheckpointError, match=message):
        load_components(folder)


def _set_class(vae: Path, name: str) -> None:
    config = json.loads((vae / "config.json").read_text())
    (vae / "config.json").write_text(json.dumps({**config, "_class_name": name}))
