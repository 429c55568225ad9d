"""`rewardedit train-vae` turns a preset's random VAE into a working autoencoder in a normal checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import torch
from diffusers import AutoencoderKL

from model import RewardEditPipeline, build_preset, load_components
from model.presets import PRESETS
from rewardedit.cli import main
from synth.generate import write_dataset
from training.autoencoder import AutoencoderConfig, image_paths, load_images, reconstruction_psnr
from training.config import PresetName


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Manifests of synthetic 64 px triplets: 12 to train on, 4 held-out scenes from another seed."""
    train, held_out = tmp_path_factory.mktemp("train"), tmp_path_factory.mktemp("held_out")
    write_dataset(train, count=12, seed=0)
    write_dataset(held_out, count=4, seed=1)
    return train / "manifest.jsonl", held_out / "manifest.jsonl"


@pytest.fixture(scope="module")
def trained(scenes: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vae") / "small"
    flags = "--preset small --max-steps 40 --batch-size 4 --learning-rate 1e-3 --log-every 20 --seed 0"
    with pytest.raises(SystemExit) as exited:
        main(["train-vae", "--data", str(scenes[0]), "--out", str(out), *flags.split()])
    assert exited.value.code == 0
    return out


def test_training_lowers_reconstruction_error_on_held_out_scenes(scenes, trained):
    held_out = load_images(scenes[1], 64)
    before = reconstruction_psnr(build_preset("small", seed=0).vae, held_out)
    after = reconstruction_psnr(load_components(trained).vae, held_out)
    assert after > before + 0.5, (before, after)  # dB: 40 steps already cut the squared error by ~20%


def test_only_the_vae_changes_and_scaling_factor_is_saved(trained):
    random, loaded = build_preset("small", seed=0), load_components(trained)
    assert all(a.equal(b) for a, b in zip(random.unet.parameters(), loaded.unet.parameters(), strict=True))
    assert not all(a.equal(b) for a, b in zip(random.vae.parameters(), loaded.vae.parameters(), strict=True))
    factor = AutoencoderKL.load_config(trained / "vae")["scaling_factor"]
    assert factor != random.vae.config.scaling_factor and 0.05 < factor < 20
    assert loaded.vae.config.scaling_factor == factor


def test_written_folder_serves_and_trains(trained, scenes, tmp_path, source_image):
    edited = RewardEditPipeline.from_pretrained(trained)(source_image, "make the red circle blue", None, 2)
    assert edited.images[0].size == source_image.size
    run = tmp_path / "run"
    flags = "--resolution 64 --max-steps 2 --batch-size 2 --num-workers 0 --validate-every 0"
    with pytest.raises(SystemExit) as exited:
        main(
            ["train", "--init", str(trained), "--manifest", str(scenes[0]), "--out", str(run), *flags.split()]
        )
    assert exited.value.code == 0
    assert (
        load_components(run / "final").vae.config.scaling_factor
        == load_components(trained).vae.config.scaling_factor
    )


def test_a_folder_of_images_is_data_too(scenes):
    folder = scenes[0].parent / "images"
    assert image_paths(folder) == image_paths(scenes[0])


def test_init_and_preset_are_exclusive(scenes, tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        AutoencoderConfig(data=scenes[0], out=tmp_path, init=tmp_path, preset="small")


def test_config_preset_names_are_the_model_presets():
    assert set(get_args(PresetName)) == set(PRESETS)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("tpu", "device (--device)"),
        pytest.param(
            "cuda",
            "no CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA"),
        ),
    ],
)
def test_an_unusable_device_is_a_clear_error(scenes, tmp_path, capsys, device, message):
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "train-vae",
                "--data",
                str(scenes[0]),
                "--preset",
                "small",
                "--out",
                str(tmp_path / "v"),
                "--device",
                device,
            ]
        )
    assert exited.value.code != 0 and message in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_a_lossless_codec_is_refused_with_nothing_to_train(scenes, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["train-vae", "--data", str(scenes[0]), "--preset", "pixel", "--out", str(tmp_path / "v")])
    assert exited.value.code != 0 and "nothing to train" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()
