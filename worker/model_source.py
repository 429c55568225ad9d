"""Which checkpoint a worker serves: the configured one, or the untrained `tiny` preset by default."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .settings import Settings

logger = logging.getLogger(__name__)

UNTRAINED_NOTICE = (
    "The model is the untrained `tiny` preset (random weights): edits are noise, not real edits. "
    "Serve a trained checkpoint with --model PATH or REWARDEDIT_MODEL_PATH."
)


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    untrained: bool

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def resolve_model(settings: Settings) -> ModelInfo:
    """The configured checkpoint, or the default one, written at first start (offline, ~0.2 s)."""
    if settings.model_path is not None:
        return ModelInfo(path=settings.model_path, name=settings.model_path.name, untrained=False)
    folder = settings.default_model_dir
    if not (folder / "model_index.json").is_file():
        write_default_model(folder)
    logger.warning("%s (%s)", UNTRAINED_NOTICE, folder)
    return ModelInfo(path=folder, name="default (untrained tiny preset)", untrained=True)


def write_default_model(folder: Path) -> None:
    """Build in a scratch folder and rename, so concurrent first starts never see half a checkpoint."""
    from model import make_model

    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".default-", dir=folder.parent))
    try:
        make_model("tiny", scratch, seed=0)
        scratch.rename(folder)
        logger.info("wrote the default tiny model to %s", folder)
    except OSError:
        if not (folder / "model_index.json").is_file():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
