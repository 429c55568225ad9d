"""The one interface every reward-condition architecture implements, and the registry that loads them.

The reward-conditioned U-Net forward (`model/unet.py`) is written once; an architecture decides
only what happens at its three places: an addition to the time embedding, a module right after
`conv_in`, and a per-channel bias after every down, mid and up block. Two architectures exist:
ours as the paper describes it (`reward_model.RewardConditionModel`) and the one inside the paper's
released Reward-InsPix2Pix weights (`release_reward_model.ReleaseRewardConditionModel`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import torch
from diffusers.configuration_utils import ConfigMixin
from diffusers.models.modeling_utils import ModelMixin

from .errors import CheckpointError, InvalidInputError
from .rewards import Rewards


class RewardCondition(ModelMixin, ConfigMixin):
    """Builds c_R from the reward's scores and text, and injects it into the U-Net.

    A condition is a batch-first tensor, so the pipeline can stack, repeat and select conditions
    per guidance branch without knowing what they hold.
    """

    config_name = "config.json"
    # The name users and errors see; the folder's config names the class (`_class_name`).
    architecture: ClassVar[str]
    # Which output of the frozen CLIP text encoder the reward text is read from.
    text_output: ClassVar[str]
    # Whether a learned "no reward" condition exists (reward dropout, reward guidance, --no-reward).
    has_null_condition: ClassVar[bool]

    def prompt(self, rewards: Rewards) -> str:
        """The three reward texts as the one prompt the text encoder reads."""
        raise NotImplementedError

    def condition(self, text_features: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """c_R from the encoded reward prompts (B, ...) and the scores (B, 3)."""
        raise NotImplementedError

    def null(self, batch_size: int) -> torch.Tensor:
        """The learned "no reward given" condition c_R^0 for `batch_size` rows."""
        raise InvalidInputError(
            f"this checkpoint's reward condition ({self.architecture}) has no learned null reward, so it "
            "cannot edit without a reward or with reward guidance (reward_guidance_scale must be 1)"
        )

    def time_embedding(self, condition: torch.Tensor) -> torch.Tensor | None:
        """What to add to the U-Net's time embedding (before its activation), or None."""
        return None

    def after_conv_in(self, hidden: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """The U-Net's `conv_in` output with the reward injected."""
        return hidden

    def after_blocks(self, condition: torch.Tensor) -> list[torch.Tensor] | None:
        """Per-channel biases (B, C_i, 1, 1) to add after every down, mid and up block, or None."""
        return None

    def check_unet(self, unet) -> None:
        """Raise ValueError when this condition's shapes do not fit the U-Net's."""

    def text_features(self, encoder_output) -> torch.Tensor:
        """The reward prompts' features from a CLIPTextModel output."""
        return getattr(encoder_output, self.text_output)


def reward_condition_class(folder: Path) -> type[RewardCondition]:
    """The architecture a `reward/` folder holds, from the class its config names."""
    from .release_reward_model import ReleaseRewardConditionModel
    from .reward_model import RewardConditionModel

    classes = {cls.__name__: cls for cls in (RewardConditionModel, ReleaseRewardConditionModel)}
    try:
        name = json.loads((folder / RewardCondition.config_name).read_text())["_class_name"]
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{str(folder)!r} holds no readable reward config: {exc}") from exc
    if name not in classes:
        raise CheckpointError(
            f"{str(folder)!r} holds a reward condition of unknown class {name!r}; "
            f"this version reads {', '.join(classes)}"
        )
    return classes[name]
