"""What the reward model takes from its base model folder (Qwen2.5-VL-7B-Instruct, MiMo-VL-7B, ...).

The config, the tokenizer (to which the release adds `<|Reward|>` at load time), the chat template
and the image processor's settings. Read with `tokenizers` and PIL only: transformers'
AutoProcessor for Qwen2.5-VL needs torchvision for its video processor, which we do not install.
The base weights are never read: the reward checkpoint holds the whole model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer
from transformers import Qwen2_5_VLConfig

from .images import PIXELS_KEY, TARGET_PIXELS, VisionSettings
from .prompts import REWARD_TOKEN

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
PREPROCESSOR_CONFIG = "preprocessor_config.json"
# Where a chat template may live; the processor's own comes first, as AutoProcessor reads it.
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json", TOKENIZER_CONFIG)
# Special tokens the processor hands to the chat template (some templates read them).
TEMPLATE_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token")


class BaseFolderError(ValueError):
    """The base model folder lacks a file the reward model needs, or holds an unreadable one."""


@dataclass(frozen=True)
class BaseFolder:
    folder: Path
    config: Qwen2_5_VLConfig
    tokenizer: Tokenizer  # with REWARD_TOKEN added
    reward_token_id: int
    pad_token_id: int
    chat_template: str
    template_tokens: dict[str, str]
    vision: VisionSettings

    @property
    def vocabulary_size(self) -> int:
        """Rows of the reward model's embedding: the release resizes it to the tokenizer's length."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BaseFolderError(
            f"{path.parent}: no {path.name}; is it the base model folder (--base-model)?"
        ) from exc
    except (OSError, ValueError) as exc:
        raise BaseFolderError(f"cannot read {path}: {exc}") from exc


def token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken-like object."""
    return value.get("content") if isinstance(value, dict) else value


def find_chat_template(folder: Path) -> str:
    for name in TEMPLATE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".jinja"):
            return path.read_text(encoding="utf-8")
        template = read_json(path).get("chat_template")
        if isinstance(template, str):
            return template
    raise BaseFolderError(f"{folder}: no chat template (looked in {', '.join(TEMPLATE_FILES)})")


def read_vision_settings(folder: Path) -> VisionSettings:
    data = read_json(folder / PREPROCESSOR_CONFIG)
    try:
        return VisionSettings(
            patch_size=int(data["patch_size"]),
            temporal_patch_size=int(data["temporal_patch_size"]),
            merge_size=int(data["merge_size"]),
            mean=tuple(float(x) for x in data["image_mean"]),
            std=tuple(float(x) for x in data["image_std"]),
            pixels=int(data.get(PIXELS_KEY, TARGET_PIXELS)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BaseFolderError(f"{folder / PREPROCESSOR_CONFIG}: missing or bad entry {exc}") from exc


def read_base_folder(folder: str | Path) -> BaseFolder:
    """Everything but the weights, with `<|Reward|>` added to the tokenizer as the release adds it."""
    folder = Path(folder)
    config_data = read_json(folder / CONFIG)
    model_type = config_data.get("model_type")
    if model_type != "qwen2_5_vl":
        raise BaseFolderError(
            f"{folder / CONFIG}: model_type {model_type!r}, the EditReward models' is qwen2_5_vl"
        )
    config = Qwen2_5_VLConfig.from_dict(config_data)
    tokenizer_path = folder / TOKENIZER
    if not tokenizer_path.is_file():
        raise BaseFolderError(f"{folder}: no {TOKENIZER}; is it the base model folder (--base-model)?")
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    # Added with the next free id (the base vocabulary's length), or the existing id when already there.
    tokenizer.add_special_tokens([AddedToken(REWARD_TOKEN, special=True, normalized=False)])
    tokenizer_config = read_json(folder / TOKENIZER_CONFIG)
    template_tokens = {
        name: text for name in TEMPLATE_TOKENS if (text := token_text(tokenizer_config.get(name))) is not None
    }
    pad = template_tokens.get("pad_token")
    pad_id = tokenizer.token_to_id(pad) if pad is not None else None
    if pad_id is None:
        raise BaseFolderError(f"{folder / TOKENIZER_CONFIG}: no pad_token the tokenizer knows (got {pad!r})")
    return BaseFolder(
        folder=folder,
        config=config,
        tokenizer=tokenizer,
        reward_token_id=tokenizer.token_to_id(REWARD_TOKEN),
        pad_token_id=pad_id,
        chat_template=find_chat_template(folder),
        template_tokens=template_tokens,
        vision=read_vision_settings(folder),
    )
