"""What `--resume` needs beyond the model weights, stored without pickles (safetensors + JSON).

A checkpoint folder holds the weights to serve: the EMA weights when EMA is on, else the trained
ones. `training_state/` beside them holds the rest: optimizer moments, the schedule's position, the
fp16 loss scale, the EMA's step count, the data position and, with EMA, the raw trained weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

STATE_FOLDER = "training_state"
STATE_FILE = "state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class TrainingState:
    """The JSON part: counters and the small state dicts that hold no tensors."""

    step: int
    samples_seen: int
    world_size: int
    lr_scheduler: dict[str, Any]
    grad_scaler: dict[str, Any] | None = None
    ema: dict[str, Any] | None = None


def save_state(
    folder: Path,
    state: TrainingState,
    optimizer: dict[str, Any],
    weights: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write training_state/ in `folder`; `optimizer` is an optimizer's state_dict()."""
    target = folder / STATE_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for index, entry in optimizer["state"].items():
        for key, value in entry.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"optimizer state {key!r} is a {type(value).__name__}, not a tensor")
            tensors[f"{index}.{key}"] = value.detach().contiguous()
    save_file(tensors, target / OPTIMIZER_FILE)
    if weights is not None:
        save_file({k: v.detach().contiguous() for k, v in weights.items()}, target / WEIGHTS_FILE)
    record = {**asdict(state), "optimizer_groups": optimizer["param_groups"]}
    (target / STATE_FILE).write_text(json.dumps(record, indent=2) + "\n")


def load_state(folder: Path) -> tuple[TrainingState, dict[str, Any], dict[str, torch.Tensor] | None]:
    """(JSON state, optimizer state_dict, raw weights or None) from `folder`/training_state."""
    source = folder / STATE_FOLDER
    record = json.loads((source / STATE_FILE).read_text())
    groups = record.pop("optimizer_groups")
    entries: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in load_file(source / OPTIMIZER_FILE).items():
        index, key = name.split(".", 1)
        entries.setdefault(int(index), {})[key] = value
    weights = load_file(source / WEIGHTS_FILE) if (source / WEIGHTS_FILE).is_file() else None
    return TrainingState(**record), {"state": entries, "param_groups": groups}, weights


def has_state(folder: Path) -> bool:
    return (folder / STATE_FOLDER / STATE_FILE).is_file()
