"""The oracle labeller: the manifest's three rewards for a noisy triplet, as GPT-4o gave them in the paper.

Scores are measured from the pixels (the same measurements as the oracle judge); the text names the
failure that was simulated when it cost a point, else what the measurement saw.
"""

from __future__ import annotations

import numpy as np

from model import Rewards
from model.rewards import PERSPECTIVES

from .edits import EditCase
from .failures import FOLLOWING_FAILURES, PRESERVING_FAILURES, QUALITY_FAILURES, Failure, FailurePlan
from .measure import measure
from .render import render_array

# Chance that a triplet has a failure on each perspective, set so that the noisy targets pass the
# oracle on 51-59% of the benchmark on each perspective: as clean as issue 17 allows (at most 60%),
# so a base model sees as many clean edits as the reward must still leave room for.
FAILURE_RATE = {"following": 0.6, "preserving": 0.45, "quality": 0.35}
KINDS = {"following": FOLLOWING_FAILURES, "preserving": PRESERVING_FAILURES, "quality": QUALITY_FAILURES}
MIN_SEVERITY = 0.1
FAILURE_TEXTS = {
    "ignored": "the instruction was ignored or only partly carried out",
    "wrong": "the instruction was executed poorly: a different edit was made",
    "spill": "unintended changes: other shapes moved",
    "blur": "the image is blurry",
    "noise": "the image is noisy",
    "blocking": "blocky compression artifacts",
    "cast": "a colour cast over the whole image",
}


def random_plan(rng: np.random.Generator) -> FailurePlan:
    failures = {}
    for name in PERSPECTIVES:
        if rng.random() < FAILURE_RATE[name]:
            kind = str(rng.choice(KINDS[name]))
            # Squared: mild failures are commoner than severe ones, as in real edit data.
            failures[name] = Failure(kind, MIN_SEVERITY + (1 - MIN_SEVERITY) * float(rng.random()) ** 2)
    return FailurePlan(**failures)


def oracle_rewards(case: EditCase, edited: np.ndarray, plan: FailurePlan) -> Rewards:
    measured = measure(render_array(case.before), render_array(case.after), edited)
    fields: dict[str, float | str] = {}
    for name in PERSPECTIVES:
        m, failure = measured[name], getattr(plan, name)
        fields[name] = m.score
        fields[f"{name}_text"] = FAILURE_TEXTS[failure.kind] if failure and m.score < 5 else m.text
    return Rewards(**fields)  # type: ignore[arg-type]
