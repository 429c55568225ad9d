"""What a RewardEdit checkpoint says beyond diffusers' layout: `rewardedit.json` at the folder's root.

Absent (every plain InstructPix2Pix folder, the paper's releases, and our checkpoints that need
nothing else) means the defaults, which compute exactly what InstructPix2Pix computes. The file is
read strictly: an unknown key, a wrong type or an inconsistent combination is an error, never
ignored, since a checkpoint whose options are dropped would load and compute something else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import CheckpointError

CONFIG_NAME = "rewardedit.json"


@dataclass(frozen=True)
class PipelineConfig:
    """Options a checkpoint's model was trained with; sampling must use the same.

    `source_skip`: the U-Net predicts the edited latent as the source latent plus its output.

    With a lossless codec (model/codec.py) and the source given as input, a U-Net trained from
    scratch spends thousands of steps learning to copy the cells an edit leaves alone; the skip makes
    copying its starting point, as pretraining does for InstructPix2Pix. It needs x0 ("sample")
    prediction, where output and source latent live in the same space.

    `mask_text_padding`: cross-attention reads only the instruction's own tokens, not the padding
    up to the tokenizer's length. With 77 positions and instructions of about 10 tokens, attention
    that starts out uniform gives a word 1/77 of what a cross-attention layer reads: a U-Net
    trained from scratch barely told "make the background blue" from "... red" after 2000 steps
    (docs/synthetic-experiment.md). A pretrained one has long learnt where to look.
    """

    source_skip: bool = False
    mask_text_padding: bool = False

    @classmethod
    def from_folder(cls, folder: Path) -> PipelineConfig:
        path = folder / CONFIG_NAME
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} is not readable JSON: {exc}") from exc
        known = [field.name for field in fields(cls)]
        if not isinstance(data, dict) or set(data) - set(known):
            raise CheckpointError(
                f"{str(path)!r} must be an object with keys among {', '.join(known)}; got {data!r}"
            )
        for key, value in data.items():
            if not isinstance(value, bool):
                raise CheckpointError(f"{str(path)!r}: {key} must be true or false, got {value!r}")
        return cls(**data)

    def save(self, folder: Path) -> None:
        """Written only when it differs from the defaults, so other checkpoints keep diffusers' layout."""
        path = folder / CONFIG_NAME
        if self == PipelineConfig():
            path.unlink(missing_ok=True)
            return
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    def check(self, prediction_type: str) -> None:
        if self.source_skip and prediction_type != "sample":
            raise CheckpointError(
                f"{CONFIG_NAME} sets source_skip, which needs a scheduler predicting 'sample'; "
                f"this one predicts {prediction_type!r}"
            )
