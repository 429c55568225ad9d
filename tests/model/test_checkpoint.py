"""save_pretrained / from_pretrained round-trip and the checkpoint folder layout."""

from __future__ import annotations

import json

import numpy as np
import torch

from model import RewardEditPipeline, Rewards

from .helpers import pixels, randomize_rewards


def state(pipe: RewardEditPipeline) -> dict[str, torch.Tensor]:
    c = pipe.components
    modules = {"vae": c.vae, "text_encoder": c.text_encoder, "unet": c.unet, "reward": c.reward}
    return {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}


def test_save_then_load_is_lossless(tiny_checkpoint, tmp_path, source_image):
    pipe = RewardEditPipeline.from_pretrained(tiny_checkpoint)
    randomize_rewards(pipe.components.reward, seed=7)
    pipe.save_pretrained(tmp_path / "saved")
    loaded = RewardEditPipeline.from_pretrained(tmp_path / "saved")

    before, after = state(pipe), state(loaded)
    assert before.keys() == after.keys()
    for key, tensor in before.items():
        assert torch.equal(tensor, after[key]), key
    for name in ("reward", "unet", "vae", "scheduler"):
        a, b = (dict(getattr(p.components, name).config) for p in (pipe, loaded))
        a.pop("_name_or_path", None), b.pop("_name_or_path", None)
        assert a == b, name

    def run(p: RewardEditPipeline) -> np.ndarray:
        rewards = Rewards(preserving=2.5, quality_text="noisy")
        out = p(
            image=source_image,
            instruction="turn the square green",
            rewards=rewards,
            num_inference_steps=5,
            generator=torch.Generator().manual_seed(11),
        )
        return pixels(out.images[0])

    assert np.array_equal(run(pipe), run(loaded))


def test_checkpoint_folder_has_the_contract_layout_and_no_pickles(tiny_checkpoint):
    names = {p.name for p in tiny_checkpoint.iterdir()}
    assert {"model_index.json", "unet", "vae", "text_encoder", "tokenizer", "scheduler", "reward"} <= names
    assert (tiny_checkpoint / "reward" / "config.json").is_file()
    assert list((tiny_checkpoint / "reward").glob("*.safetensors"))
    assert not [p for p in tiny_checkpoint.rglob("*") if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"}]
    index = json.loads((tiny_checkpoint / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionInstructPix2PixPipeline"


def test_diffusers_loads_a_rewardedit_checkpoint(tiny_checkpoint):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_checkpoint, local_files_only=True)
    assert pipe.unet.config.in_channels == 8
