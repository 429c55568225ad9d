"""`--judge editreward`: the tiny EditReward model as a judge, its calibration, and judges per perspective."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise

import numpy as np
import pytest

from judge import PERSPECTIVES, Judgement, JudgeOptions, create_judge
from judge.batch import EditToJudge, judge_with_progress, open_upright
from judge.composite import CompositeJudge, parse_judge_spec
from judge.editreward import EditToScore
from judge.editreward.calibration import (
    CALIBRATION_FILE,
    Calibration,
    CalibrationError,
    ScoreMap,
    default_calibration,
    fit_labelled,
    fit_quantile,
)
from judge.editreward_judge import FAILED_TEXTS, EditRewardJudge
from training.manifest import read_manifest

from .chat_server import Reply, judgement_reply
from .editreward_models import TinyEditReward, write_edit_manifest
from .helpers import judge_once, rewardedit


def options(tiny_editreward, **more) -> JudgeOptions:
    return JudgeOptions(
        reward_model=tiny_editreward.reward, base_model=tiny_editreward.base, device="cpu", **more
    )


class CountingScorer:
    """The real scorer, recording the batches it is given."""

    def __init__(self, scorer) -> None:
        self.scorer = scorer
        self.batches: list[int] = []

    def __getattr__(self, name):
        return getattr(self.scorer, name)

    def score(self, edits, heads=(0, 1)):
        self.batches.append(len(edits))
        return self.scorer.score(edits, heads)


def judge_rows(judge, manifest, workers: int = 4) -> dict[str, dict[str, Judgement]]:
    rows = read_manifest(manifest)
    edits = [
        EditToJudge(
            row.id, row.instruction, lambda row=row: (open_upright(row.source), open_upright(row.edited))
        )
        for row in rows
    ]
    results = {}
    judge_with_progress(judge, edits, workers, lambda edit, outcome: results.update({edit.key: outcome}), "t")
    return results


def test_the_editreward_judge_maps_each_heads_mu(tiny_editreward, source_image, edited_image):
    judge = create_judge("editreward", options(tiny_editreward))
    scores = judge.scorer.score([EditToScore(source_image, edited_image, "make it blue")])[0]
    judgements = judge_once(judge, source_image, edited_image, "make it blue")
    calibration = default_calibration()  # no calibration file in the model folder
    expected_raw = {"following": scores.instruction_following, "preserving": scores.instruction_following}
    expected_raw["quality"] = scores.visual_quality
    for name in PERSPECTIVES:
        judgement, raw = judgements[name], expected_raw[name]
        assert judgement.raw == pytest.approx(raw, abs=1e-6)
        assert judgement.score == pytest.approx(calibration.maps[name].score(raw))
        assert judgement.verdict == calibration.maps[name].verdict(raw)
        assert judgement.text == ("None" if judgement.verdict else FAILED_TEXTS[name])


def test_concurrent_requests_are_scored_in_batches_and_cached(tiny_editreward, tmp_path):
    manifest = write_edit_manifest(tmp_path / "data", 6, labelled=False)
    judge = create_judge("editreward", options(tiny_editreward, batch_size=4, cache_dir=tmp_path / "cache"))
    judge.scorer = counting = CountingScorer(judge.scorer)
    batched = judge_rows(judge, manifest)
    assert sum(counting.batches) == 6 and counting.batches[0] == 4  # four in flight at once: one batch

    alone = create_judge("editreward", options(tiny_editreward, batch_size=1))
    one_by_one = judge_rows(alone, manifest, workers=1)
    for row_id, judgements in batched.items():
        for name in PERSPECTIVES:
            assert judgements[name].raw == pytest.approx(one_by_one[row_id][name].raw, abs=1e-5)

    again = create_judge("editreward", options(tiny_editreward, cache_dir=tmp_path / "cache"))
    again.scorer = counting = CountingScorer(again.scorer)
    assert judge_rows(again, manifest) == batched
    assert counting.batches == []  # every mu came from the cache


def test_an_edit_the_model_cannot_take_fails_alone(tiny_editreward, source_image, edited_image):
    judge = create_judge("editreward", options(tiny_editreward, batch_size=4))

    async def both():
        async with judge:
            return await asyncio.gather(
                judge.judge(source_image, edited_image, "make it blue"),
                judge.judge(source_image, edited_image, "make it <|im_end|> blue"),
                return_exceptions=True,
            )

    good, bad = asyncio.run(both())
    assert set(good) == set(PERSPECTIVES)
    assert isinstance(bad, Exception) and "EditReward cannot score this edit" in str(bad)


def test_judges_combine_per_perspective(tiny_editreward, chat_server, source_image, edited_image):
    server = chat_server(lambda request: Reply(judgement_reply(False, 2.0, "the background changed")))
    spec = "following=editreward,preserving=openai,quality=editreward"
    judge = create_judge(spec, options(tiny_editreward, base_url=server.base_url, model="test-vlm"))
    assert isinstance(judge, CompositeJudge)
    judgements = judge_once(judge, source_image, edited_image, "make it blue")
    assert [request.perspective for request in server.requests] == ["preserving"]  # nothing else is asked
    assert judgements["preserving"] == Judgement(False, 2.0, "the background changed")
    assert judgements["following"].raw is not None and judgements["quality"].raw is not None
    assert parse_judge_spec("editreward,preserving=openai") == {
        "following": "editreward",
        "preserving": "openai",
        "quality": "editreward",
    }


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("following=editreward,quality=editreward", "no judge for preserving"),
        ("following=editreward,following=openai,openai", "following needs exactly one judge"),
        ("looks=openai,editreward", "'looks' is not one of"),
        ("openai,editreward", "one bare NAME at most"),
        ("following=nope,openai", "unknown judge 'nope'"),
    ],
)
def test_bad_judge_specs_are_refused(spec, problem):
    with pytest.raises(ValueError, match=problem):
        create_judge(spec, JudgeOptions(base_url="http://127.0.0.1:9/v1", model="m"))


def test_the_editreward_judge_needs_a_model():
    with pytest.raises(ValueError, match="needs --reward-model"):
        create_judge("editreward", JudgeOptions())


def test_an_isotonic_fit_is_monotone_and_its_threshold_separates():
    raw = np.linspace(-2, 2, 40)
    labels = np.clip(np.round(2.5 + 1.5 * raw + np.sin(7 * raw)), 0, 5)
    fitted = fit_labelled({p: raw for p in PERSPECTIVES}, {p: labels for p in PERSPECTIVES}, 4.0, {})
    score_map = fitted.maps["following"]
    mapped = [score_map.score(mu) for mu in raw]
    assert all(b >= a for a, b in pairwise(mapped))
    assert np.abs(np.asarray(mapped) - labels).mean() < 0.6
    passed = labels >= 4
    assert np.mean([score_map.verdict(mu) for mu in raw] == passed) >= 0.9
    assert score_map.score(-10) == mapped[0] and score_map.score(10) == mapped[-1]  # clamped


def test_a_quantile_fit_matches_the_reference_distribution():
    rng = np.random.default_rng(0)
    raw = rng.normal(-0.5, 1.0, 500)
    reference = rng.choice([1.0, 3.0, 4.0, 5.0], size=300, p=[0.1, 0.3, 0.3, 0.3])
    fitted = fit_quantile({p: raw for p in PERSPECTIVES}, {p: reference for p in PERSPECTIVES}, 4.0, {})
    score_map = fitted.maps["quality"]
    mapped = np.asarray([score_map.score(mu) for mu in raw])
    assert abs(np.mean(mapped >= 3.5) - np.mean(reference >= 3.5)) < 0.05
    assert abs(np.mean([score_map.verdict(mu) for mu in raw]) - np.mean(reference >= 4.0)) < 0.02


def test_calibrations_round_trip_and_bad_ones_are_refused(tmp_path):
    calibration = fit_labelled(
        {p: [0.0, 1.0, 2.0] for p in PERSPECTIVES}, {p: [1, 3, 5] for p in PERSPECTIVES}, 4, {}
    )
    calibration.save(tmp_path / "c.json")
    assert Calibration.load(tmp_path / "c.json") == calibration
    with pytest.raises(CalibrationError, match="strictly increasing"):
        ScoreMap(((1.0, 2.0), (1.0, 3.0)), 0.0)
    with pytest.raises(CalibrationError, match="within"):
        ScoreMap(((0.0, 2.0), (1.0, 6.0)), 0.0)
    (tmp_path / "bad.json").write_text(json.dumps({"method": "x", "perspectives": {}}))
    with pytest.raises(CalibrationError, match="expected the perspectives"):
        Calibration.load(tmp_path / "bad.json")


def test_reward_calibrate_fits_on_labels_and_the_judge_uses_it(tiny_editreward, tmp_path, capsys):
    manifest = write_edit_manifest(tmp_path / "data", 8, labelled=True)
    out = tmp_path / "calibration.json"
    code = rewardedit(
        "reward-calibrate", manifest, "--reward-model", tiny_editreward.reward,
        "--base-model", tiny_editreward.base, "--device", "cpu", "--out", out,
        "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "isotonic on the labels" in printed and "verdict acc" in printed and f"wrote {out}" in printed
    calibration = Calibration.load(out)
    assert calibration.method == "labelled" and calibration.fitted_on["edits"] == 8

    judge = create_judge("editreward", options(tiny_editreward, calibration=out))
    row = read_manifest(manifest)[0]
    judgements = judge_once(judge, open_upright(row.source), open_upright(row.edited), row.instruction)
    for name in PERSPECTIVES:
        assert judgements[name].score == pytest.approx(calibration.maps[name].score(judgements[name].raw))


def test_reward_calibrate_matches_a_reference_and_lands_beside_the_model(tiny_editreward, tmp_path, capsys):
    reward = tmp_path / "reward"
    reward.mkdir()
    (reward / "model.safetensors").symlink_to(tiny_editreward.reward / "model.safetensors")
    unlabelled = write_edit_manifest(tmp_path / "new", 6, labelled=False)
    reference = write_edit_manifest(tmp_path / "ref", 5, labelled=True)
    code = rewardedit(
        "reward-calibrate", unlabelled, "--reference", reference, "--reward-model", reward,
        "--base-model", tiny_editreward.base, "--device", "cpu", "--no-cache",
    )  # fmt: skip
    assert code == 0 and "quantile-matched to the reference" in capsys.readouterr().out
    assert Calibration.load(reward / CALIBRATION_FILE).method == "quantile"
    judge = create_judge("editreward", options(TinyEditReward(tiny_editreward.base, reward)))
    assert judge.calibration.method == "quantile"  # found beside the model


def test_reward_calibrate_needs_labels_or_a_reference(tiny_editreward, tmp_path, capsys):
    unlabelled = write_edit_manifest(tmp_path / "new", 3, labelled=False)
    code = rewardedit(
        "reward-calibrate", unlabelled, "--reward-model", tiny_editreward.reward,
        "--base-model", tiny_editreward.base, "--out", tmp_path / "c.json",
    )  # fmt: skip
    assert code == 2 and "unlabelled rows" in capsys.readouterr().err


def test_label_takes_the_editreward_judge(tiny_editreward, tmp_path, capsys):
    manifest = write_edit_manifest(tmp_path / "data", 3, labelled=False)
    out = tmp_path / "labelled.jsonl"
    code = rewardedit(
        "label", manifest, "--out", out, "--judge", "editreward", "--reward-model", tiny_editreward.reward,
        "--base-model", tiny_editreward.base, "--reward-device", "cpu", "--no-cache",
    )  # fmt: skip
    assert code == 0
    rows = read_manifest(out)
    assert all(row.rewards is not None for row in rows)
    assert "score distribution over 3 labelled lines" in capsys.readouterr().out


def test_the_judge_keeps_its_answers_for_a_perspective_subset(tiny_editreward, source_image, edited_image):
    judge = create_judge("editreward", options(tiny_editreward, perspectives=("quality",)))
    assert isinstance(judge, EditRewardJudge) and judge.heads == (1,)
    assert set(judge_once(judge, source_image, edited_image, "make it blue")) == {"quality"}
