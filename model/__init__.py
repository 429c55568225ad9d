"""The reward-conditioned InstructPix2Pix model and its sampling pipeline."""

from .checkpoint import Components, load_components, save_components
from .errors import CheckpointError, EditCanceled, InvalidInputError, NonFiniteImageError
from .pipeline import RewardEditPipeline, RewardEditPipelineOutput
from .presets import build_preset, make_model
from .reward_model import RewardConditionModel
from .rewards import Rewards
from .unet import RewardEditUNet

__all__ = [
    "CheckpointError",
    "Components",
    "EditCanceled",
    "InvalidInputError",
    "NonFiniteImageError",
    "RewardConditionModel",
    "RewardEditPipeline",
    "RewardEditPipelineOutput",
    "RewardEditUNet",
    "Rewards",
    "build_preset",
    "load_components",
    "make_model",
    "save_components",
]
