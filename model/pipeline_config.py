"""What a RewardEdit checkpoint says beyond diffusers' layout: `rewardedit.json` at the folder's root.

Absent (every plain InstructPix2Pix folder, the paper's releases, and our checkpoints that need
nothing else) means the defaults, which compute exactly what InstructPix2Pix computes and sample as
it does. The file is read strictly: an unknown key, a wrong type or an inconsistent combination is
an error, never ignored, since a checkpoint whose options are dropped would load and compute
something else.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import CheckpointError

CONFIG_NAME = "rewardedit.json"


@dataclass(frozen=True)
class SamplingDefaults:
    """The sampling settings an edit gets where its caller sets none: the ones the model edits best with.

    InstructPix2Pix's own unless the checkpoint names others. A small model trained from scratch
    on the synthetic world edits better with far less guidance than 7.5 / 1.5 (image guidance
    above 1 scales up what it copies; docs/synthetic-experiment.md, runs 5 and 11), so its
    checkpoint says so, and the service, the page, `edit` and `eval` use that unless a request
    sets its own.
    """

    num_inference_steps: int = 30
    guidance_scale: float = 7.5
    image_guidance_scale: float = 1.5

    def __post_init__(self) -> None:
        steps = self.num_inference_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"num_inference_steps must be a positive integer, got {steps!r}")
        for name in ("guidance_scale", "image_guidance_scale"):
            value = getattr(self, name)
            number = not isinstance(value, bool) and isinstance(value, (int, float))
            if not (number and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    @classmethod
    def from_dict(cls, data: Any) -> SamplingDefaults:
        """Strict: an object with keys among the fields (the others keep InstructPix2Pix's)."""
        known = [item.name for item in fields(cls)]
        if not isinstance(data, dict) or set(data) - set(known):
            raise ValueError(f"sampling must be an object with keys among {', '.join(known)}; got {data!r}")
        return cls(**data)


@dataclass(frozen=True)
class PipelineConfig:
    """Options a checkpoint's model was trained with, which sampling must follow, and its sampling defaults.

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
    sampling: SamplingDefaults = field(default_factory=SamplingDefaults)

    @classmethod
    def from_folder(cls, folder: Path) -> PipelineConfig:
        path = folder / CONFIG_NAME
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} is not readable JSON: {exc}") from exc
        known = [item.name for item in fields(cls)]
        if not isinstance(data, dict) or set(data) - set(known):
            raise CheckpointError(
                f"{str(path)!r} must be an object with keys among {', '.join(known)}; got {data!r}"
            )
        try:
            sampling = SamplingDefaults.from_dict(data.pop("sampling", {}))
        except ValueError as exc:
            raise CheckpointError(f"{str(path)!r}: {exc}") from exc
        for key, value in data.items():
            if not isinstance(value, bool):
                raise CheckpointError(f"{str(path)!r}: {key} must be true or false, got {value!r}")
        return cls(**data, sampling=sampling)

    def save(self, folder: Path) -> None:
        """Written only when it differs from the defaults, so other checkpoints keep diffusers' layout."""
        path = folder / CONFIG_NAME
        if self == PipelineConfig():
            path.unlink(missing_ok=True)
            return
        data = asdict(self)
        if self.sampling == SamplingDefaults():
            del data["sampling"]  # files from before sampling defaults existed stay byte-identical
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    def check(self, prediction_type: str) -> None:
        if self.source_skip and prediction_type != "sample":
            raise CheckpointError(
                f"{CONFIG_NAME} sets source_skip, which needs a scheduler predicting 'sample'; "
                f"this one predicts {prediction_type!r}"
            )
