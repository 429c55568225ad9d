"""Reading and writing checkpoint folders: a diffusers InstructPix2Pix layout plus `reward/`.

`model_index.json` keeps the stock `StableDiffusionInstructPix2PixPipeline` class name, so
diffusers itself can load a RewardEdit checkpoint (without the reward modules), which is what
the side-by-side benchmarks do.

Three layouts load: ours (`reward/` beside the diffusers components), a plain InstructPix2Pix
folder (zero-initialised reward modules are added) and the paper's released Reward-InsPix2Pix,
whose reward modules hide among the U-Net's weights. Every weight a folder holds must be used and
every weight a module needs must be there: diffusers and transformers only warn otherwise, and a
model that loads but computes something else is worse than one that refuses to load.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import logging as diffusers_logging
from safetensors import safe_open
from transformers import CLIPTextModel, CLIPTokenizer

from .codec import PixelShuffleCodec
from .errors import CheckpointError
from .pipeline_config import PipelineConfig
from .release_reward_model import ReleaseRewardConditionModel, is_release_key
from .reward_condition import RewardCondition, reward_condition_class
from .reward_model import RewardConditionModel
from .schedulers import load_scheduler

logger = logging.getLogger(__name__)

COMPONENTS = ("vae", "text_encoder", "tokenizer", "unet", "scheduler")
REWARD_FOLDER = "reward"
MODEL_INDEX = {
    "_class_name": "StableDiffusionInstructPix2PixPipeline",
    "feature_extractor": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
}
# The autoencoders a `vae/` folder may hold, by the class its config names, with the library
# model_index.json names for it (diffusers imports that module to load the pipeline itself).
VAE_CLASSES: dict[str, tuple[str, type[AutoencoderKL | PixelShuffleCodec]]] = {
    "AutoencoderKL": ("diffusers", AutoencoderKL),
    "PixelShuffleCodec": ("model.codec", PixelShuffleCodec),
}


@dataclass
class Components:
    vae: AutoencoderKL | PixelShuffleCodec
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    unet: UNet2DConditionModel
    scheduler: SchedulerMixin
    reward: RewardCondition
    config: PipelineConfig = field(default_factory=PipelineConfig)


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
    """Load every component from local files only, in any of the three layouts (module docstring)."""
    folder = check_folder(path)
    try:
        unet, release_weights = _load_unet(folder / "unet")
        text_encoder = _load_strict(CLIPTextModel, folder / "text_encoder")
        components = Components(
            vae=_load_strict(vae_class(folder / "vae"), folder / "vae"),
            text_encoder=text_encoder,
            tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True),
            unet=unet,
            scheduler=load_scheduler(folder / "scheduler"),
            reward=_load_reward(folder, unet, text_encoder.config.hidden_size, release_weights),
            config=PipelineConfig.from_folder(folder),
        )
        components.reward.check_unet(unet)
        components.config.check(components.scheduler.config.prediction_type)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"cannot load checkpoint {str(folder)!r}: {exc}") from exc
    if unet.config.in_channels != 2 * components.vae.config.latent_channels:
        raise CheckpointError(
            f"U-Net takes {unet.config.in_channels} input channels; InstructPix2Pix needs "
            f"{2 * components.vae.config.latent_channels} (noisy latent + source latent)"
        )
    return components


def vae_class(folder: Path) -> type[AutoencoderKL | PixelShuffleCodec]:
    """The autoencoder a `vae/` folder holds, from the class its config names."""
    try:
        name = json.loads((folder / "config.json").read_text())["_class_name"]
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{str(folder)!r} holds no readable VAE config: {exc}") from exc
    if name not in VAE_CLASSES:
        raise CheckpointError(
            f"{str(folder)!r} holds an autoencoder of unknown class {name!r}; "
            f"this version reads {', '.join(VAE_CLASSES)}"
        )
    return VAE_CLASSES[name][1]


def _load_strict(cls, folder: Path):
    """`cls.from_pretrained`, failing where the weights and the module do not match key for key."""
    model, info = cls.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    _check_keys(folder, info["missing_keys"], info["unexpected_keys"], info.get("mismatched_keys", []))
    return model


def _check_keys(folder: Path, missing, unexpected, mismatched) -> None:
    for what, keys in (("lacks weights", missing), ("holds unknown weights", unexpected)):
        if keys:
            shown = ", ".join(sorted(keys)[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            raise CheckpointError(f"{str(folder)!r} {what}: {shown}")
    if mismatched:
        raise CheckpointError(f"{str(folder)!r} holds weights of the wrong shape: {mismatched[:5]}")


def _load_unet(folder: Path) -> tuple[UNet2DConditionModel, dict[str, torch.Tensor]]:
    """The stock U-Net, and the release's reward weights when its weight file carries them."""
    # diffusers warns that weights it does not know "were not used": the release's are, below.
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        unet, info = UNet2DConditionModel.from_pretrained(
            folder, local_files_only=True, output_loading_info=True
        )
    finally:
        diffusers_logging.set_verbosity(verbosity)
    unexpected = info["unexpected_keys"]
    release_keys = [key for key in unexpected if is_release_key(key)]
    _check_keys(folder, info["missing_keys"], set(unexpected) - set(release_keys), info["mismatched_keys"])
    if not release_keys:
        return unet, {}
    logger.info("%s carries the released Reward-InsPix2Pix reward modules", folder)
    return unet, _read_weights(folder, release_keys)


def _read_weights(folder: Path, keys: list[str]) -> dict[str, torch.Tensor]:
    """The named tensors from the folder's weight file(s), as diffusers picks them (no variant)."""
    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = {folder / weight_map[key] for key in keys}
    elif (folder / "diffusion_pytorch_model.safetensors").is_file():
        files = {folder / "diffusion_pytorch_model.safetensors"}
    else:
        state = torch.load(folder / "diffusion_pytorch_model.bin", map_location="cpu", weights_only=True)
        return {key: state[key] for key in keys}
    weights = {}
    for file in files:
        with safe_open(file, framework="pt") as handle:
            weights.update({key: handle.get_tensor(key) for key in keys if key in handle.keys()})  # noqa: SIM118
    return weights


def _load_reward(
    folder: Path, unet: UNet2DConditionModel, text_dim: int, release_weights: dict[str, torch.Tensor]
) -> RewardCondition:
    reward_folder = folder / REWARD_FOLDER
    if reward_folder.is_dir():
        if release_weights:
            raise CheckpointError(
                f"{str(folder)!r} has both a reward/ folder and release reward weights inside unet/: "
                "it is not clear which condition to use"
            )
        return _load_strict(reward_condition_class(reward_folder), reward_folder)
    if release_weights:
        return ReleaseRewardConditionModel.from_unet_weights(release_weights, unet.config, text_dim)
    return RewardConditionModel.for_unet(unet.config, text_dim)


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
    components.config.save(folder)
    index = {
        **MODEL_INDEX,
        "scheduler": ["diffusers", type(components.scheduler).__name__],
        "vae": [VAE_CLASSES[type(components.vae).__name__][0], type(components.vae).__name__],
        "_diffusers_version": _diffusers_version(),
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return folder


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__
