"""Tie-calibrated pairwise accuracy per dimension on held-out pairs (judge.reward_bench.metrics).

Each head's margin mu(first) - mu(second) is compared with that dimension's relation; "overall" is
the mean of the heads (the scorer's overall) against the overall relation. Pairs without a relation
for a dimension are left out of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from judge.editreward.model import EditRewardModel
from judge.reward_bench.metrics import tie_calibrated_accuracy

from .batches import by_pair, pair_inputs
from .data import DIMENSIONS, PreferencePair

EVAL_BATCH = 8  # pairs per forward pass


def pair_margins(
    model: EditRewardModel, builder, pairs: Sequence[PreferencePair], device: torch.device
) -> torch.Tensor:
    """[pairs, heads]: mu(first) - mu(second) per head."""
    margins = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(pairs), EVAL_BATCH):
            batch = pairs[start : start + EVAL_BATCH]
            with torch.inference_mode():
                outputs = by_pair(model(pair_inputs(builder, batch).to(device)).float(), len(batch))
            margins.append((outputs[:, 0, :, 0] - outputs[:, 1, :, 0]).cpu())
    finally:
        model.train(was_training)
    return torch.cat(margins)


def accuracies(margins: torch.Tensor, pairs: Sequence[PreferencePair]) -> dict[str, float]:
    """NAME_acc (tie-calibrated), NAME_eps and NAME_acc_no_ties for each dimension and overall."""
    columns = {name: margins[:, head] for head, name in enumerate(DIMENSIONS)}
    columns["overall"] = margins.mean(dim=1)
    result: dict[str, float] = {}
    for name, column in columns.items():
        known = [
            (float(m), p.relation(name))
            for m, p in zip(column, pairs, strict=True)
            if p.relation(name) is not None
        ]
        if not known:
            continue
        calibrated = tie_calibrated_accuracy([m for m, _ in known], [r for _, r in known])
        result[f"{name}_acc"] = calibrated.accuracy
        result[f"{name}_eps"] = calibrated.epsilon
        result[f"{name}_acc_no_ties"] = calibrated.accuracy_without_ties
    return result


def evaluate(
    model: EditRewardModel, builder, pairs: Sequence[PreferencePair], device: torch.device
) -> dict[str, float]:
    return accuracies(pair_margins(model, builder, pairs, device), pairs)
