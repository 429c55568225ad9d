"""Reading and writing checkpoint folders: a diffusers InstructPix2Pix layout plus `reward/`.

`model_index.json` keeps the stock `StableDiffusionInstructPix2PixPipeline` class name, so
diffusers itself can load a RewardEdit checkpoint (without the reward modules), which is what
the side-by-side benchmarks do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, UNet2DConditionModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from transformers import CLIPTextModel, CLIPTokenizer

from .errors import CheckpointError
from .reward_model import RewardConditionModel

COMPONENTS = ("vae", "text_encoder", "tokenizer", "unet", "scheduler")
REWARD_FOLDER = "reward"
MODEL_INDEX = {
    "_class_name": "StableDiffusionInstructPix2PixPipeline",
    "feature_extractor": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


@dataclass
class Components:
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    unet: UNet2DConditionModel
    scheduler: SchedulerMixin
    reward: RewardConditionModel


def check_folder(path: str | Path) -> Path:
    """The checkpoint folder as a Path, or a CheckpointError saying what is missing."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"model folder {str(folder)!r} does not exist")
    if not (folder / "model_index.json").is_file():
        raise CheckpointError(f"{str(folder)!r} has no model_index.json: not a diffusers pipeline folder")
    missing = [name for name in COMPONENTS if not (folder / name).is_dir()]
    if missing:
        raise CheckpointError(f"{str(folder)!r} lacks the component folder(s): {', '.join(missing)}")
    return folder


def load_components(path: str | Path) -> Components:
    """Load every component from local files only; a plain InstructPix2Pix folder gets zero-init rewards."""
    folder = check_folder(path)
    try:
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", local_files_only=True)
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True)
        components = Components(
            vae=AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True),
            text_encoder=text_encoder,
            tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True),
            unet=unet,
            scheduler=EulerAncestralDiscreteScheduler.from_pretrained(
                folder / "scheduler", local_files_only=True
            ),
            reward=(
                RewardConditionModel.from_pretrained(folder / REWARD_FOLDER, local_files_only=True)
                if (folder / REWARD_FOLDER).is_dir()
                else RewardConditionModel.for_unet(unet.config, text_encoder.config.hidden_size)
            ),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"cannot load checkpoint {str(folder)!r}: {exc}") from exc
    if unet.config.in_channels != 2 * components.vae.config.latent_channels:
        raise CheckpointError(
            f"U-Net takes {unet.config.in_channels} input channels; InstructPix2Pix needs "
            f"{2 * components.vae.config.latent_channels} (noisy latent + source latent)"
        )
    return components


def save_components(components: Components, path: str | Path) -> Path:
    """Write the checkpoint folder: safetensors weights and JSON configs, no pickles."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    components.vae.save_pretrained(folder / "vae", safe_serialization=True)
    components.text_encoder.save_pretrained(folder / "text_encoder", safe_serialization=True)
    components.tokenizer.save_pretrained(folder / "tokenizer")
    components.unet.save_pretrained(folder / "unet", safe_serialization=True)
    components.scheduler.save_pretrained(folder / "scheduler")
    components.reward.save_pretrained(folder / REWARD_FOLDER, safe_serialization=True)
    index = {**MODEL_INDEX, "_diffusers_version": _diffusers_version()}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return folder


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__
