"""The synthetic benchmark on disk, and `rewardedit eval --judge oracle` on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judge.benchmark import CATEGORIES, read_benchmark
from rewardedit.cli import main
from synth.generate import write_benchmark


def test_benchmark_covers_all_categories_and_is_reproducible(tmp_path: Path) -> None:
    first, again, other = (tmp_path / name for name in ("a", "b", "c"))
    write_benchmark(first, 500, seed=5)
    write_benchmark(again, 500, seed=5)
    write_benchmark(other, 14, seed=6)
    items = read_benchmark(first)
    assert len(items) == 500 and {item.category for item in items} == set(CATEGORIES)
    assert (first / "benchmark.json").read_bytes() == (again / "benchmark.json").read_bytes()
    assert (first / "images/0071.png").read_bytes() == (again / "images/0071.png").read_bytes()
    assert (first / "images/0000.png").read_bytes() != (other / "images/0000.png").read_bytes()


@pytest.mark.slow
def test_eval_with_the_oracle_judge_runs_end_to_end(tmp_path: Path, tiny_checkpoint: Path) -> None:
    write_benchmark(tmp_path / "bench", 7, seed=1)
    with pytest.raises(SystemExit) as exit_code:
        main(
            ["eval", "--model", str(tiny_checkpoint), "--benchmark", str(tmp_path / "bench"),
             "--out", str(tmp_path / "eval"), "--judge", "oracle", "--steps", "2", "--device", "cpu",
             "--no-cache"]
        )  # fmt: skip
    assert exit_code.value.code == 0
    summary = json.loads((tmp_path / "eval/results.json").read_text())
    assert summary["failed"] == 0 and set(summary["table"]) == {*CATEGORIES, "all"}
    lines = (tmp_path / "eval/judgements.jsonl").read_text().splitlines()
    assert all(
        set(json.loads(line)["judgements"]) == {"following", "preserving", "quality"} for line in lines
    )
