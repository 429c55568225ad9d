"""`rewardedit select`: a manifest's best rows by a judge, resumable, with a histogram and the cut."""

from __future__ import annotations

import json

import pytest

from judge.batch import open_upright
from judge.editreward import EditRewardScorer, EditToScore
from training.manifest import read_manifest

from .chat_server import Reply, judgement_reply
from .editreward_models import write_edit_manifest
from .helpers import rewardedit

ROWS = 6


@pytest.fixture
def manifest(tmp_path):
    return write_edit_manifest(tmp_path / "data", ROWS, labelled=False)


def overall_scores(tiny_editreward, manifest) -> dict[str, float]:
    """EditReward's overall mu of every row, scored directly."""
    scorer = EditRewardScorer.from_pretrained(tiny_editreward.reward, tiny_editreward.base, device="cpu")
    rows = read_manifest(manifest)
    edits = [EditToScore(open_upright(r.source), open_upright(r.edited), r.instruction) for r in rows]
    return {row.id: scores.overall for row, scores in zip(rows, scorer.score(edits), strict=True)}


def select(manifest, out, tiny_editreward, *flags, judge="editreward"):
    return rewardedit(
        "select", manifest, "--out", out, "--judge", judge, "--reward-model", tiny_editreward.reward,
        "--base-model", tiny_editreward.base, "--reward-device", "cpu", "--no-cache", *flags,
    )  # fmt: skip


def scores_lines(out):
    return out.with_name(out.name + ".scores.jsonl").read_text().splitlines()


def test_top_k_keeps_the_best_by_editrewards_overall(tiny_editreward, manifest, tmp_path, capsys):
    out = tmp_path / "subset.jsonl"
    assert select(manifest, out, tiny_editreward, "--top-k", "3") == 0
    expected = overall_scores(tiny_editreward, manifest)
    best = sorted(expected, key=lambda row_id: -expected[row_id])[:3]
    kept = read_manifest(out)
    assert [row.id for row in kept] == [row_id for row_id in expected if row_id in best]  # manifest order
    assert all(row.source.is_file() for row in kept)  # paths still point at the images
    printed = capsys.readouterr().out
    cut = min(expected[row_id] for row_id in best)
    assert f"selection score (overall) over {ROWS} rows" in printed
    assert printed.count("<- cut") == 1 and f"<- cut {cut:.3f}" in printed
    assert f"kept 3 of {ROWS} rows (top 3)" in printed
    recorded = [json.loads(line) for line in scores_lines(out)]
    assert {r["id"] for r in recorded} == set(expected)
    for record in recorded:
        judgements = record["judgements"]
        overall = (judgements["following"]["raw"] + judgements["quality"]["raw"]) / 2
        assert overall == pytest.approx(expected[record["id"]], abs=1e-5)


def test_a_rerun_resumes_and_another_cut_judges_nothing_again(tiny_editreward, manifest, tmp_path, capsys):
    out = tmp_path / "subset.jsonl"
    assert select(manifest, out, tiny_editreward, "--top-k", "2") == 0
    lines = scores_lines(out)
    scores_file = out.with_name(out.name + ".scores.jsonl")
    scores_file.write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])  # stopped mid-line after two rows
    assert select(manifest, out, tiny_editreward, "--top-k", "2") == 0
    resumed = scores_lines(out)
    assert len(resumed) == ROWS + 1  # the two kept, the cut line, and the four judged again
    judged = {json.loads(line)["id"] for line in resumed if line.endswith("}")}
    assert judged == {f"r{i}" for i in range(ROWS)}

    expected = overall_scores(tiny_editreward, manifest)
    threshold = sorted(expected.values())[2]
    capsys.readouterr()
    assert select(manifest, out, tiny_editreward, "--min-score", repr(threshold)) == 0
    assert len(scores_lines(out)) == ROWS + 1  # nothing judged again
    assert {row.id for row in read_manifest(out)} == {k for k, v in expected.items() if v >= threshold}
    assert f"kept {ROWS - 2} of {ROWS} rows (score >= " in capsys.readouterr().out


def test_scores_of_another_judge_are_not_mixed_in(tiny_editreward, manifest, tmp_path, capsys):
    out = tmp_path / "subset.jsonl"
    assert select(manifest, out, tiny_editreward, "--top-k", "2") == 0
    code = select(manifest, out, tiny_editreward, "--top-k", "2", judge="editreward,quality=oracle")
    assert code == 2 and "holds scores of judge 'editreward'" in capsys.readouterr().err


def test_any_judge_selects_by_its_weighted_score(chat_server, tiny_editreward, manifest, tmp_path, capsys):
    instructions = {row.id: row.instruction for row in read_manifest(manifest)}
    order = sorted(set(instructions.values()))

    def answer(request):  # following by instruction; the other perspectives constant
        score = float(order.index(request.instruction)) if request.perspective == "following" else 3.0
        return Reply(judgement_reply(score >= 3, score))

    server = chat_server(answer)
    out = tmp_path / "subset.jsonl"
    code = rewardedit(
        "select", manifest, "--out", out, "--judge", "openai", "--base-url", server.base_url,
        "--judge-model", "m", "--no-cache", "--min-score", "3", "--weights", "3", "1", "1",
    )  # fmt: skip
    assert code == 0
    # weighted (3 f + 3 + 3) / 5 >= 3 exactly when f >= 3
    expected = {row_id for row_id, text in instructions.items() if order.index(text) >= 3}
    assert {row.id for row in read_manifest(out)} == expected
    assert "selection score (score)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--top-k", "0"], "--top-k must be at least 1"),
        (["--top-k", "2", "--by", "overall", "--judge", "editreward,quality=oracle"], "--by overall needs"),
    ],
)
def test_bad_selections_are_refused(tiny_editreward, manifest, tmp_path, capsys, flags, problem):
    code = select(manifest, tmp_path / "subset.jsonl", tiny_editreward, *flags)
    assert code == 2 and problem in capsys.readouterr().err
