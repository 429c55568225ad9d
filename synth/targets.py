"""Edits a model would make if it had learned its training targets perfectly: the experiment's bounds.

A model trained without rewards on the noisy triplets learns, at best, to sample their targets:
`noisy` draws a benchmark item's target the way `synth-data` draws a training one. A model that
also learned the reward condition, asked for 5/5/5, samples the targets the labeller scored
5/5/5: `noisy-5` draws until one is. `exact` is the ground truth itself. What separates `noisy`
from `noisy-5` is all a reward condition can add on this data; a model short of `noisy` cannot
yet reproduce the data the reward would pick from.
"""

from __future__ import annotations

import numpy as np

from model.rewards import MAX_SCORE

from .edits import EditCase
from .failures import noisy_edit
from .labels import oracle_rewards, random_plan
from .render import render_array

TARGETS = ("exact", "noisy", "noisy-5")
MAX_DRAWS = 1000  # about one draw in ten scores 5/5/5; this many never all fail in practice


def target(case: EditCase, kind: str, rng: np.random.Generator) -> np.ndarray:
    """One edited image of `kind` (see TARGETS) for the case, as uint8 RGB."""
    if kind == "exact":
        return render_array(case.after)
    for _ in range(MAX_DRAWS):
        plan = random_plan(rng)
        edited = noisy_edit(rng, case, plan)
        if kind == "noisy" or min(oracle_rewards(case, edited, plan).scores) == MAX_SCORE:
            return edited
    raise RuntimeError(f"no noisy target scored 5/5/5 in {MAX_DRAWS} draws for {case.instruction!r}")
