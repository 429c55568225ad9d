"""From EditReward's unbounded mu to the judges' 0-5 score and yes/no verdict, per perspective.

A calibration is a monotone piecewise-linear map (knots of (mu, score), clamped beyond the ends)
and a verdict threshold on mu, for each perspective: following reads head 0 (instruction
following), quality head 1 (visual quality) and preserving head 0 too, since EditReward has no
preserving head and its instruction rubric includes "exclusivity of edit (no over-editing)"; a
composite judge gives preserving to another judge instead.

It is stored as JSON beside the reward model (`rewardedit-calibration.json`) or anywhere
(`--calibration`), and fitted by `rewardedit reward-calibrate` in one of two ways:

- `labelled`: on a manifest whose rewards someone trusted gave (people, GPT-4o, the oracle), the
  isotonic (monotone least-squares) regression of each label on mu; the verdict threshold is the
  mu that best separates labels >= pass_score from the rest (balanced accuracy).
- `quantile`: on unlabelled edits, mu's quantiles are matched to a reference score distribution
  (another judge's labels of similar data); the verdict passes the reference's pass rate.

Without a fitted file the default maps mu in [-3, 2] (the range it typically falls in) linearly to
[0, 5] and passes mu >= 1: enough to rank candidates, not to trust the numbers.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from model.rewards import MAX_SCORE, MIN_SCORE, PERSPECTIVES

CALIBRATION_FILE = "rewardedit-calibration.json"
PERSPECTIVE_HEADS = {"following": 0, "preserving": 0, "quality": 1}
DEFAULT_RANGE = (-3.0, 2.0)
DEFAULT_PASS_SCORE = 4.0
QUANTILE_KNOTS = 21


class CalibrationError(ValueError):
    """A calibration file is unreadable, or there is too little data to fit one."""


@dataclass(frozen=True)
class ScoreMap:
    """One perspective: knots (mu ascending, score non-decreasing in [0, 5]) and the verdict threshold."""

    knots: tuple[tuple[float, float], ...]
    verdict_threshold: float

    def __post_init__(self) -> None:
        raws = [raw for raw, _ in self.knots]
        scores = [score for _, score in self.knots]
        if not self.knots or any(b <= a for a, b in pairwise(raws)):
            raise CalibrationError(f"knots must have strictly increasing mu, got {raws}")
        in_range = all(MIN_SCORE <= s <= MAX_SCORE for s in scores)
        if any(b < a for a, b in pairwise(scores)) or not in_range:
            raise CalibrationError(f"knot scores must be non-decreasing within [0, 5], got {scores}")
        if not all(math.isfinite(v) for v in (*raws, *scores, self.verdict_threshold)):
            raise CalibrationError("knots and threshold must be finite")

    def score(self, raw: float) -> float:
        raws = [r for r, _ in self.knots]
        index = bisect.bisect_right(raws, raw)
        if index == 0:
            return self.knots[0][1]
        if index == len(self.knots):
            return self.knots[-1][1]
        (r0, s0), (r1, s1) = self.knots[index - 1], self.knots[index]
        return s0 + (s1 - s0) * (raw - r0) / (r1 - r0)

    def verdict(self, raw: float) -> bool:
        return raw >= self.verdict_threshold


@dataclass(frozen=True)
class Calibration:
    maps: dict[str, ScoreMap]
    method: str
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "fitted_on": self.fitted_on,
            "perspectives": {
                name: {
                    "head": PERSPECTIVE_HEADS[name],
                    "knots": [list(knot) for knot in m.knots],
                    "verdict_threshold": m.verdict_threshold,
                }
                for name, m in self.maps.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        try:
            maps = {
                name: ScoreMap(
                    tuple((float(raw), float(score)) for raw, score in entry["knots"]),
                    float(entry["verdict_threshold"]),
                )
                for name, entry in data["perspectives"].items()
            }
            if set(maps) != set(PERSPECTIVES):
                raise CalibrationError(f"expected the perspectives {PERSPECTIVES}, got {sorted(maps)}")
            return cls(maps, str(data["method"]), dict(data.get("fitted_on", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"not a calibration: {exc}") from exc

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise CalibrationError(f"{path}: {exc}") from exc


def default_calibration() -> Calibration:
    low, high = DEFAULT_RANGE
    threshold = low + (high - low) * DEFAULT_PASS_SCORE / MAX_SCORE
    linear = ScoreMap(((low, MIN_SCORE), (high, MAX_SCORE)), threshold)
    return Calibration(dict.fromkeys(PERSPECTIVES, linear), "default")


def isotonic_knots(raw: Sequence[float], labels: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """Pool-adjacent-violators: the non-decreasing fit of labels on mu, as (mean mu, mean label) per block."""
    mus, group = np.unique(np.asarray(raw, dtype=float), return_inverse=True)  # equal mu: one point
    label_sums = np.bincount(group, weights=np.asarray(labels, dtype=float))
    counts = np.bincount(group)
    blocks: list[tuple[float, float, int]] = []  # (sum of mu, sum of labels, count)
    for mu, label_sum, count in zip(mus * counts, label_sums, counts, strict=True):
        blocks.append((float(mu), float(label_sum), int(count)))
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            blocks[-1] = (blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2] + last[2])
    return tuple((sx / n, min(MAX_SCORE, max(MIN_SCORE, sy / n))) for sx, sy, n in blocks)


def balanced_threshold(raw: Sequence[float], passed: Sequence[bool]) -> float:
    """The mu threshold with the best balanced accuracy of `mu >= t` against `passed` (lowest on ties)."""
    values = np.asarray(raw, dtype=float)
    truth = np.asarray(passed, dtype=bool)
    candidates = np.unique(values)
    candidates = np.append(candidates, candidates[-1] + 1.0)  # "nothing passes"

    def balanced(t: float) -> float:
        said = values >= t
        rates = [
            np.mean(said[truth]) if truth.any() else 1.0,
            np.mean(~said[~truth]) if (~truth).any() else 1.0,
        ]
        return float(np.mean(rates))

    return float(max(candidates, key=lambda t: (balanced(t), -t)))


def fit_labelled(
    raw: dict[str, Sequence[float]],
    labels: dict[str, Sequence[float]],
    pass_score: float,
    about: dict[str, Any],
) -> Calibration:
    """Isotonic map and balanced verdict threshold per perspective, from mu and trusted 0-5 labels."""
    maps = {}
    for name in PERSPECTIVES:
        if len(raw[name]) < 2:
            raise CalibrationError(f"{name}: at least 2 labelled edits are needed, got {len(raw[name])}")
        knots = isotonic_knots(raw[name], labels[name])
        if len(knots) == 1:  # labels that do not vary with mu: a constant map
            knots = ((knots[0][0], knots[0][1]), (knots[0][0] + 1.0, knots[0][1]))
        passed = [label >= pass_score for label in labels[name]]
        maps[name] = ScoreMap(knots, balanced_threshold(raw[name], passed))
    return Calibration(maps, "labelled", {**about, "pass_score": pass_score})


def fit_quantile(
    raw: dict[str, Sequence[float]],
    reference: dict[str, Sequence[float]],
    pass_score: float,
    about: dict[str, Any],
) -> Calibration:
    """mu's quantiles matched to the reference's; the verdict passes the reference's pass rate."""
    levels = np.linspace(0.0, 1.0, QUANTILE_KNOTS)
    maps = {}
    for name in PERSPECTIVES:
        if len(raw[name]) < 2 or not len(reference[name]):
            raise CalibrationError(f"{name}: need at least 2 scored edits and 1 reference score")
        mus = np.quantile(np.asarray(raw[name], float), levels)
        scores = np.clip(np.quantile(np.asarray(reference[name], float), levels), MIN_SCORE, MAX_SCORE)
        knots: list[tuple[float, float]] = []
        for mu, score in zip(mus.tolist(), scores.tolist(), strict=True):
            if knots and mu <= knots[-1][0]:
                knots[-1] = (knots[-1][0], max(knots[-1][1], score))
            else:
                knots.append((mu, score))
        if len(knots) == 1:
            knots.append((knots[0][0] + 1.0, knots[0][1]))
        pass_rate = float(np.mean(np.asarray(reference[name]) >= pass_score))
        threshold = (
            float(np.quantile(np.asarray(raw[name], float), 1.0 - pass_rate)) if pass_rate else mus[-1] + 1
        )
        maps[name] = ScoreMap(tuple(knots), float(threshold))
    return Calibration(maps, "quantile", {**about, "pass_score": pass_score})
