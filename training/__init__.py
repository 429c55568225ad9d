"""Reward fine-tuning: manifest data, the RewardEdit-20K importer and the `rewardedit train` trainer."""

from .config import ConfigError, TrainConfig, load_config
from .manifest import ManifestError, ManifestRow, read_manifest, write_manifest
from .rewardedit20k import import_rewardedit20k
from .trainer import Trainer, train

__all__ = [
    "ConfigError",
    "ManifestError",
    "ManifestRow",
    "TrainConfig",
    "Trainer",
    "import_rewardedit20k",
    "load_config",
    "read_manifest",
    "train",
    "write_manifest",
]
