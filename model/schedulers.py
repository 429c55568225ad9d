"""Samplers: the checkpoint folder's own scheduler by default, others by name per request.

Every sampler is one of diffusers' scheduler classes built from the checkpoint's own scheduler
config, so it keeps the noise schedule (betas, prediction type, timestep spacing) the model was
trained with; only the solver changes. The names are the ones A1111 and ComfyUI users know.
diffusers is imported on use: the API validates names without loading it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, InvalidInputError

if TYPE_CHECKING:
    from diffusers.schedulers.scheduling_utils import SchedulerMixin


@dataclass(frozen=True)
class Sampler:
    scheduler_class: str
    options: dict[str, Any] = field(default_factory=dict)


SAMPLERS: dict[str, Sampler] = {
    "euler_a": Sampler("EulerAncestralDiscreteScheduler"),
    "euler": Sampler("EulerDiscreteScheduler"),
    # DDIM clips its x0 estimate to [-1, 1] unless told not to: right for pixels, ruinous for latents
    # (SD's own scheduler configs say clip_sample false; one derived from an Euler config would not).
    "ddim": Sampler("DDIMScheduler", {"clip_sample": False}),
    "dpmpp_2m": Sampler("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_karras": Sampler(
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    # Stochastic like Euler ancestral, but it also samples x0-predicting models (the pixel preset).
    "dpmpp_2m_sde": Sampler(
        "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}
    ),
    "unipc": Sampler("UniPCMultistepScheduler"),
    "lcm": Sampler("LCMScheduler"),
}
# Sampling a model with LCM's few-step solver only works if it was distilled for it.
NEEDS_OWN_SCHEDULER = {"lcm"}
# Prediction types a solver cannot sample: diffusers' Euler ancestral step refuses x0 ("sample").
UNSUPPORTED_PREDICTIONS = {"euler_a": {"sample"}}


def sampler_names() -> list[str]:
    return list(SAMPLERS)


def check_sampler(name: str | None, own: SchedulerMixin | None = None) -> None:
    """InvalidInputError unless `name` is a known sampler the model (with scheduler `own`) supports."""
    if name is None:
        return
    if name not in SAMPLERS:
        raise InvalidInputError(f"unknown scheduler {name!r}; choose from {', '.join(SAMPLERS)}")
    if own is not None and name not in supported_samplers(own):
        why = (
            "needs a model distilled for it"
            if name in NEEDS_OWN_SCHEDULER
            else f"cannot sample a model predicting {own.config.prediction_type!r}"
        )
        raise InvalidInputError(
            f"scheduler {name!r} {why}; this checkpoint samples with {type(own).__name__}"
        )


def supported_samplers(own: SchedulerMixin) -> list[str]:
    """The sampler names a checkpoint whose own scheduler is `own` can use."""
    own_class, prediction = type(own).__name__, own.config.prediction_type
    return [
        name
        for name, sampler in SAMPLERS.items()
        if (name not in NEEDS_OWN_SCHEDULER or own_class == sampler.scheduler_class)
        and prediction not in UNSUPPORTED_PREDICTIONS.get(name, ())
    ]


def build_scheduler(own: SchedulerMixin, name: str | None = None) -> SchedulerMixin:
    """A fresh scheduler (they keep per-run state): the checkpoint's own, or `name` on its schedule."""
    if name is None:
        return type(own).from_config(own.config)
    import diffusers

    check_sampler(name, own)
    sampler = SAMPLERS[name]
    return getattr(diffusers, sampler.scheduler_class).from_config(own.config, **sampler.options)


def load_scheduler(folder: Path) -> SchedulerMixin:
    """The scheduler `scheduler/scheduler_config.json` names, as diffusers' pipelines load it."""
    import diffusers
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

    try:
        name = json.loads((folder / "scheduler_config.json").read_text())["_class_name"]
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{str(folder)!r} holds no readable scheduler config: {exc}") from exc
    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
        raise CheckpointError(f"{str(folder)!r} names {name!r}, which is not a diffusers scheduler")
    return cls.from_pretrained(folder, local_files_only=True)
