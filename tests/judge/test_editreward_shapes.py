"""The random EditReward shapes the benchmark builds: `7b` laid out as Qwen2.5-VL-7B, `tiny` runnable here."""

from __future__ import annotations

import json

from accelerate import init_empty_weights

from judge.editreward.base_folder import read_base_folder
from judge.editreward.model import EditRewardModel
from judge.editreward.random_model import write_base_folder

from .helpers import rewardedit


def test_the_7b_shape_has_qwens_token_ids_and_sizes(tmp_path):
    base = read_base_folder(write_base_folder(tmp_path, "7b", seed=None))
    tokenizer = base.tokenizer
    assert tokenizer.token_to_id("<|endoftext|>") == base.pad_token_id == 151643
    assert tokenizer.token_to_id("<|image_pad|>") == base.config.image_token_id == 151655
    assert base.reward_token_id == 151665 and base.vocabulary_size == 151666  # as the release resizes
    config = base.config
    config.text_config.vocab_size = base.vocabulary_size
    with init_empty_weights():
        model = EditRewardModel(config)
    parameters = sum(p.numel() for p in model.parameters())
    assert 7.70e9 < parameters < 7.80e9  # Qwen2.5-VL-7B without lm_head, plus two small heads
    assert sum(p.numel() for p in model.model.visual.parameters()) == 676_550_144


def test_reward_bench_prints_its_figures(tmp_path, capsys):
    report = tmp_path / "bench.json"
    code = rewardedit(
        "reward-bench", "--shape", "tiny", "--device", "cpu", "--threads", "1", "--batch-sizes", "1", "2",
        "--runs", "1", "--warmup", "0", "--json", report,
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "EditReward scoring, random weights, shape tiny" in printed and "s/candidate" in printed
    figures = json.loads(report.read_text())
    assert [batch["batch_size"] for batch in figures["batches"]] == [1, 2]
    assert figures["row_tokens"][0] > 512  # two images of 256 tokens each, and the rubric
    assert figures["reward_model_memory"] is None  # no GPU figures off CUDA


def test_reward_make_model_writes_folders_reward_score_loads(tmp_path, source_image, capsys):
    assert rewardedit("reward-make-model", tmp_path / "tiny") == 0
    source_image.save(tmp_path / "source.png")
    code = rewardedit(
        "reward-score", tmp_path / "source.png", tmp_path / "source.png", "--instruction", "keep it",
        "--reward-model", tmp_path / "tiny" / "reward", "--base-model", tmp_path / "tiny" / "base", "--json",
    )  # fmt: skip
    assert code == 0
    assert set(json.loads(capsys.readouterr().out.splitlines()[-1])) == {
        "instruction_following",
        "visual_quality",
        "overall",
    }
