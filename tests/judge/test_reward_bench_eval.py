"""`rewardedit eval-reward` end to end: the oracle and a tiny EditReward model on synthetic benchmarks.

The "human" judgements of the fixture are the oracle's own scores, taken directly from the judge,
so the oracle must be right on every pair, group and correlation, through the whole command.
"""

from __future__ import annotations

import itertools
import json

import pytest
from PIL import Image, ImageFilter

from judge.judgement import weighted_score
from judge.reward_bench.cli import RESULTS_JSON, RESULTS_MD, SCORES_JSONL
from judge.reward_bench.metrics import ranking_relations
from synth.generate import BENCHMARK_STREAM, scene_cases
from synth.oracle_judge import OracleJudge
from synth.render import render
from synth.truth import save_source

from .helpers import judge_once, rewardedit

EQUAL = {"following": 1.0, "preserving": 1.0, "quality": 1.0}
CATEGORIES = ("local", "remove", "background")


def oracle_score(source: str, edited: str, instruction: str, folder) -> float:
    judgements = judge_once(
        OracleJudge(), Image.open(folder / source), Image.open(folder / edited).convert("RGB"), instruction
    )
    return weighted_score(judgements, EQUAL)


def letters_ranking(scores: list[float]) -> str:
    """ "B>A=C"-style ranking of candidates A, B, ... by score (equal scores tie)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    text = chr(ord("A") + order[0])
    for previous, i in itertools.pairwise(order):
        text += ("=" if scores[i] == scores[previous] else ">") + chr(ord("A") + i)
    return text


@pytest.fixture(scope="module")
def synthetic_benchmarks(tmp_path_factory):
    """Three scenes, each with its exact edit, the source left unedited and a blurred exact edit."""
    folder = tmp_path_factory.mktemp("bench")
    scenes = []
    for index, category in enumerate(CATEGORIES):
        (case,) = scene_cases(7, BENCHMARK_STREAM, index, 64, (category,))
        save_source(folder / f"src{index}.png", case.before, [case])
        exact = render(case.after)
        edits = {
            "exact": exact,
            "unedited": render(case.before),
            "blurred": exact.filter(ImageFilter.GaussianBlur(2)),
        }
        names = {}
        for kind, picture in edits.items():
            names[kind] = f"out{index}-{kind}.png"
            picture.save(folder / names[kind])
        scores = {
            kind: oracle_score(f"src{index}.png", name, case.instruction, folder)
            for kind, name in names.items()
        }
        scenes.append((f"src{index}.png", case.instruction, names, scores))

    pairs, rated, groups = [], [], []
    for source, instruction, names, scores in scenes:
        for first, second in [("exact", "unedited"), ("blurred", "exact"), ("exact", "exact")]:
            pairs.append(
                {"prompt": instruction, "path_src": source, "path1": names[first], "path2": names[second],
                 "model1_dim1_score": scores[first], "model2_dim1_score": scores[second]}
            )  # fmt: skip
        for kind in names:
            rated.append(
                {"instruction": instruction, "input_path": source, "output_path": names[kind],
                 "score": scores[kind], "model": "exact-ish" if kind != "unedited" else "lazy"}
            )  # fmt: skip
        for kinds in [("exact", "blurred"), ("blurred", "exact", "unedited")]:
            ranking = letters_ranking([scores[k] for k in kinds])
            if len(kinds) == 2 and "=" in ranking:
                ranking += "=Good"
            groups.append(
                {"prompt": instruction, "path_src": source, "paths_generated": [names[k] for k in kinds],
                 "human_vote": {"ranking": ranking}}
            )  # fmt: skip
    (folder / "genai.json").write_text(json.dumps(pairs))
    (folder / "imagenhub.json").write_text(json.dumps(rated))
    (folder / "editreward_bench.json").write_text(json.dumps(groups))
    assert {len(ranking_relations(g["human_vote"]["ranking"])) for g in groups} == {1, 3}
    return folder


def test_eval_reward_puts_the_oracle_and_a_reward_model_side_by_side(
    synthetic_benchmarks, tiny_editreward, tmp_path
):
    folder, out = synthetic_benchmarks, tmp_path / "out"
    code = rewardedit(
        "eval-reward", "--judge", "oracle", "--judge", "editreward",
        "--benchmark", f"genai-bench={folder / 'genai.json'}",
        "--benchmark", f"imagenhub={folder / 'imagenhub.json'}",
        "--benchmark", f"editreward-bench={folder / 'editreward_bench.json'}",
        "--reward-model", tiny_editreward.reward, "--base-model", tiny_editreward.base,
        "--reward-device", "cpu", "--no-cache", "--out", out,
    )  # fmt: skip
    assert code == 0
    results = json.loads((out / RESULTS_JSON).read_text())["benchmarks"]
    oracle, reward = "oracle (score)", "editreward (overall)"
    assert set(results["genai-bench"]["judges"]) == {oracle, reward}

    pairs = results["genai-bench"]["judges"][oracle]
    assert pairs["accuracy"] == 1.0 and pairs["pairs"] == 9 and pairs["unscored"] == 0
    assert pairs["accuracy_without_ties"] == 1.0
    assert results["imagenhub"]["judges"][oracle]["spearman"] == pytest.approx(1.0)
    groups = results["editreward-bench"]["judges"][oracle]
    assert groups["k2"] == 1.0 and groups["k3"] == 1.0 and groups["overall"] == 1.0
    assert groups["groups"] == {"k2": 3, "k3": 3}

    measured = results["genai-bench"]["judges"][reward]
    assert 0.0 <= measured["accuracy"] <= 1.0 and measured["pairs"] == 9

    table = (out / RESULTS_MD).read_text()
    assert "### genai-bench" in table and "### editreward-bench" in table
    assert "| oracle (score) | 100.00 |" in table
    assert "published, not measured here" in table  # reference rows, labelled
    scores = [json.loads(line) for line in (out / SCORES_JSONL).read_text().splitlines()]
    # 9 pairs x 2 + 9 rated + 3 x (2 + 3) grouped candidates, per judge
    assert len(scores) == 2 * (18 + 9 + 15)


def test_eval_reward_refuses_an_unknown_benchmark_name(tmp_path, capsys):
    code = rewardedit(
        "eval-reward", "--judge", "oracle", "--benchmark", f"imagenet={tmp_path}", "--out", tmp_path
    )
    assert code == 2
    assert "unknown benchmark 'imagenet'" in capsys.readouterr().err
