"""Which checkpoint a worker serves: the configured one, or the demo checkpoint shipped in `model/`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import model

from .settings import Settings

# Trained on the synthetic world (docs/synthetic-experiment.md, run 19): the pixel preset, fp16.
DEMO_MODEL = Path(model.__file__).parent / "demo_checkpoint"
DEMO_NOTICE = (
    "This is the demo model: trained on 64 px scenes of flat shapes (like the samples), it edits "
    "pictures of that kind, not photos. Serve another checkpoint with --model PATH or REWARDEDIT_MODEL_PATH."
)


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    notice: str | None = None  # what users should know about this model before trusting its edits

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def resolve_model(settings: Settings) -> ModelInfo:
    """The configured checkpoint, else the demo one."""
    if settings.model_path is not None:
        return ModelInfo(path=settings.model_path, name=settings.model_path.name)
    return ModelInfo(path=DEMO_MODEL, name="demo (synthetic world)", notice=DEMO_NOTICE)
