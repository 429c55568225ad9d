"""The bounds' targets: edits of a model that learned the noisy data perfectly (untold, or asked 5/5/5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rewardedit.cli import main
from synth.edits import EditCase
from synth.generate import write_benchmark
from synth.measure import measure
from synth.render import render_array
from synth.targets import target


def scores(case: EditCase, edited: np.ndarray) -> tuple[float, ...]:
    measured = measure(render_array(case.before), render_array(case.after), edited)
    return tuple(m.score for m in measured.values())


def test_noisy_targets_fail_like_the_data_and_noisy_5_ones_score_five(cases: list[EditCase]) -> None:
    rng = np.random.default_rng(0)
    noisy = [scores(case, target(case, "noisy", rng)) for case in cases for _ in range(4)]
    best = [(case, target(case, "noisy-5", rng)) for case in cases for _ in range(2)]
    # The labeller leaves about half of the data below 5 on each perspective.
    assert all(np.mean([s[p] < 5 for s in noisy]) > 0.3 for p in range(3))
    assert all(scores(case, image) == (5, 5, 5) for case, image in best)
    # ... and some targets scoring 5/5/5 still carry a mild failure.
    assert any(not np.array_equal(image, render_array(case.after)) for case, image in best)
    assert all(np.array_equal(target(case, "exact", rng), render_array(case.after)) for case in cases)


@pytest.mark.parametrize(("kind", "all_yes"), [("noisy-5", True), ("noisy", False)])
def test_ceiling_judges_drawn_targets_without_a_vae(tmp_path: Path, kind: str, all_yes: bool) -> None:
    write_benchmark(tmp_path / "bench", 28, seed=4)
    with pytest.raises(SystemExit) as exit_code:
        main(["synth-ceiling", "--benchmark", str(tmp_path / "bench"), "--out", str(tmp_path / kind),
              "--targets", kind, "--seed", "1"])  # fmt: skip
    assert exit_code.value.code == 0
    summary = json.loads((tmp_path / kind / "results.json").read_text())
    rates = [summary["table"]["all"][p]["accuracy"] for p in ("following", "preserving", "quality")]
    assert (rates == [1.0] * 3) is all_yes
    assert summary["settings"] == {"targets": kind, "seed": 1}
