"""The synthetic benchmark on disk, and `rewardedit eval --judge oracle` on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from judge.benchmark import CATEGORIES, read_benchmark
from judge.compare import spread
from model import Rewards, load_components, make_model
from model.image import image_to_tensor, tensor_to_images
from rewardedit.cli import main
from synth.generate import write_benchmark
from synth.render import render
from synth.truth import read_truth


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


def test_eval_batches_give_the_images_of_one_by_one_edits(tmp_path: Path, tiny_checkpoint: Path) -> None:
    write_benchmark(tmp_path / "bench", 5, seed=2)
    for batch in (1, 3):
        with pytest.raises(SystemExit) as exit_code:
            main(
                ["eval", "--model", str(tiny_checkpoint), "--benchmark", str(tmp_path / "bench"),
                 "--out", str(tmp_path / f"batch{batch}"), "--judge", "oracle", "--steps", "2",
                 "--device", "cpu", "--batch-size", str(batch), "--score", "2.5"]
            )  # fmt: skip
        assert exit_code.value.code == 0
    for item in read_benchmark(tmp_path / "bench"):
        one, batched = (
            np.asarray(Image.open(tmp_path / f"batch{b}" / "images" / f"{item.id}.png"), dtype=int)
            for b in (1, 3)
        )
        assert np.abs(one - batched).max() <= 1
    settings = json.loads((tmp_path / "batch3/results.json").read_text())["settings"]
    assert settings["batch_size"] == 3
    assert [settings["rewards"][name] for name in ("following", "preserving", "quality")] == [2.5] * 3


@pytest.mark.parametrize(
    ("flags", "asked"),
    [(["--score", "1", "2", "3"], Rewards(1, 2, 3).to_dict()), (["--no-reward"], None)],
)
def test_eval_asks_each_perspective_its_score_or_no_reward(tmp_path, tiny_checkpoint, flags, asked) -> None:
    write_benchmark(tmp_path / "bench", 1, seed=2)
    with pytest.raises(SystemExit) as exit_code:
        main(
            ["eval", "--model", str(tiny_checkpoint), "--benchmark", str(tmp_path / "bench"),
             "--out", str(tmp_path / "eval"), "--judge", "oracle", "--steps", "1", "--device", "cpu", *flags]
        )  # fmt: skip
    assert exit_code.value.code == 0
    rewards = json.loads((tmp_path / "eval/results.json").read_text())["settings"]["rewards"]
    assert rewards == asked


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--score", "1", "2"], "one score or 3"), (["--score", "6"], "must be in [0, 5]")],
)
def test_eval_refuses_a_bad_score_before_editing(tmp_path, tiny_checkpoint, flags, message, capsys) -> None:
    write_benchmark(tmp_path / "bench", 1, seed=2)
    with pytest.raises(SystemExit) as exit_code:
        main(
            ["eval", "--model", str(tiny_checkpoint), "--benchmark", str(tmp_path / "bench"),
             "--out", str(tmp_path / "eval"), "--judge", "oracle", *flags]
        )  # fmt: skip
    assert exit_code.value.code == 2
    assert message in capsys.readouterr().err and not (tmp_path / "eval").exists()


def write_result(folder: Path, accuracy: float, score: float) -> Path:
    folder.mkdir(parents=True)
    row = {p: {"accuracy": accuracy, "mean_score": score} for p in ("following", "preserving", "quality")}
    table = {"local": {"count": 2, **row}, "all": {"count": 2, **row}}
    (folder / "results.json").write_text(json.dumps({"table": table}))
    return folder


def test_compare_averages_runs_and_shows_their_spread(tmp_path: Path, capsys) -> None:
    a, b, c = (
        write_result(tmp_path / n, acc, s)
        for n, acc, s in (("a", 0.4, 3.0), ("b", 0.6, 4.0), ("c", 0.5, 2.0))
    )
    with pytest.raises(SystemExit) as exit_code:
        main(["compare", f"two seeds={a},{b}", f"one seed={c}", "--out", str(tmp_path / "table.md")])
    assert exit_code.value.code == 0
    markdown = (tmp_path / "table.md").read_text()
    assert markdown == capsys.readouterr().out
    assert "| two seeds | 2 | 50.0 ± 14.1 | 3.50 ± 0.71 |" in markdown
    assert "| one seed | 1 | 50.0 | 2.00 |" in markdown
    assert "| two seeds | 50.0 ± 14.1 |" in markdown  # the per-category table


def test_compare_pairs_each_run_with_the_baselines_run_in_the_same_place(tmp_path: Path, capsys) -> None:
    none = [write_result(tmp_path / f"none{i}", acc, 1.0) for i, acc in enumerate((0.40, 0.60))]
    full = [write_result(tmp_path / f"full{i}", acc, 1.0) for i, acc in enumerate((0.45, 0.70))]
    with pytest.raises(SystemExit) as exit_code:
        main(["compare", "none=" + ",".join(map(str, none)), "full=" + ",".join(map(str, full)),
              "--paired-with", "none"])  # fmt: skip
    assert exit_code.value.code == 0
    markdown = capsys.readouterr().out
    # +5 and +10 points: the pairs' spread (3.5), not the seeds' own (14.1 and 17.7)
    pair = "+5.0, +10.0 (7.5 ± 3.5)"
    assert f"| full | {pair} | {pair} | {pair} | 2 / 2 |" in markdown
    assert markdown.count("| full | 7.5 ± 3.5 |") == 3  # each perspective's per-category table
    assert "| none | +" not in markdown


def test_compare_refuses_a_baseline_it_was_not_given(tmp_path: Path, capsys) -> None:
    run = write_result(tmp_path / "a", 0.5, 1.0)
    with pytest.raises(SystemExit) as exit_code:
        main(["compare", f"a={run}", "--paired-with", "b"])
    assert exit_code.value.code == 2 and "'b'" in capsys.readouterr().err


@pytest.mark.parametrize("variant", ["no-equals-sign", "name=", "=dir"])
def test_compare_refuses_a_malformed_variant(tmp_path: Path, variant: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["compare", variant])
    assert exit_code.value.code == 2 and "NAME=DIR" in capsys.readouterr().err


def test_compare_names_a_folder_without_results(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["compare", f"x={tmp_path}"])
    assert exit_code.value.code == 2 and "results.json" in capsys.readouterr().err


def test_ceiling_judges_the_truth_after_a_vae_round_trip(tmp_path: Path, tiny_checkpoint: Path) -> None:
    write_benchmark(tmp_path / "bench", 7, seed=3)
    with pytest.raises(SystemExit) as exit_code:
        main(["synth-ceiling", "--model", str(tiny_checkpoint), "--benchmark", str(tmp_path / "bench"),
              "--out", str(tmp_path / "ceiling")])  # fmt: skip
    assert exit_code.value.code == 0
    item = read_benchmark(tmp_path / "bench")[0]
    truth = render(read_truth(Image.open(item.image), item.instruction)[1])
    vae = load_components(tiny_checkpoint).vae
    with torch.no_grad():
        expected = tensor_to_images(vae.decode(vae.encode(image_to_tensor(truth)).latent_dist.mode()).sample)[
            0
        ]
    written = Image.open(tmp_path / "ceiling" / "images" / f"{item.id}.png")
    assert np.abs(np.asarray(written, dtype=int) - np.asarray(expected, dtype=int)).max() <= 1
    summary = json.loads((tmp_path / "ceiling/results.json").read_text())
    assert summary["failed"] == 0 and summary["table"]["all"]["count"] == 7
    assert summary["model"].startswith("exact targets, VAE round trip")


def test_ceiling_through_the_lossless_codec_passes_every_edit(tmp_path: Path) -> None:
    write_benchmark(tmp_path / "bench", 7, seed=3)
    make_model("pixel", tmp_path / "pixel")
    with pytest.raises(SystemExit) as exit_code:
        main(["synth-ceiling", "--model", str(tmp_path / "pixel"), "--benchmark", str(tmp_path / "bench"),
              "--out", str(tmp_path / "ceiling")])  # fmt: skip
    assert exit_code.value.code == 0
    summary = json.loads((tmp_path / "ceiling/results.json").read_text())
    rates = [summary["table"]["all"][p]["accuracy"] for p in ("following", "preserving", "quality")]
    assert rates == [1, 1, 1]


def test_spread_prints_a_mean_that_rounds_to_zero_without_a_sign() -> None:
    assert spread([-0.0004, 0.0002], percent=True) == "0.0 ± 0.0"
    assert spread([-0.001], percent=False) == "0.00"
    assert spread([-0.002], percent=True) == "-0.2"
