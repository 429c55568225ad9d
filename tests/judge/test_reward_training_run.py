"""`train-reward` end to end on a small model: resume is bit-identical, checkpoints score, options work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from judge.editreward import EditRewardScorer, EditToScore
from judge.reward_training.config import RewardTrainConfig
from judge.reward_training.data import open_image, read_pairs
from judge.reward_training.synth_pairs import write_pairs
from judge.reward_training.trainer import TrainRewardError, train

from .helpers import rewardedit

PAIRS = 8


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pairs(tmp_path_factory.mktemp("pairs"), PAIRS, seed=3)


def config(pairs: Path, out: Path, **fields: object) -> RewardTrainConfig:
    values = {
        "train_pairs": pairs,
        "shape": "small",
        "out": out,
        "max_steps": 4,
        "batch_size": 2,
        "gradient_accumulation_steps": 2,
        "learning_rate": 1e-3,
        "checkpoint_every": 2,
        "mc_samples": 8,
        "seed": 1,
        **fields,
    }
    return RewardTrainConfig(**values)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_a_run_resumed_from_a_checkpoint_ends_bit_identical_to_an_uninterrupted_one(pairs, tmp_path):
    whole = tmp_path / "whole"
    train(config(pairs, whole))  # uncertainty loss: MC noise and head dropout are replayed too
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    shutil.copytree(whole / "checkpoint-2", stopped / "checkpoint-2")  # as if killed after step 2
    shutil.copytree(whole / "base", stopped / "base")
    train(config(pairs, stopped, resume=True))
    expected, got = weights(whole / "final"), weights(stopped / "final")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    start = weights(whole / "checkpoint-2")
    assert not torch.equal(start["rm_heads.head_0.5.weight"], got["rm_heads.head_0.5.weight"])
    steps = [json.loads(line)["step"] for line in (stopped / "logs/train.jsonl").read_text().splitlines()]
    assert steps == [3, 4]


def test_a_trained_checkpoint_scores_with_the_strict_loader_and_reward_score(pairs, tmp_path, capsys):
    out = tmp_path / "run"
    final = train(config(pairs, out, mode="per-dimension", loss="bt-ties", max_steps=2))
    assert {"model.safetensors", "config.json", "tokenizer.json", "preprocessor_config.json"} <= {
        p.name for p in final.iterdir()
    }
    assert "lm_head.weight" in weights(final)
    (pair,) = read_pairs(pairs)[:1]
    scorer = EditRewardScorer.from_pretrained(final, device="cpu")
    edit = EditToScore(open_image(pair.source), open_image(pair.first), pair.instruction)
    (scores,) = scorer.score([edit])
    capsys.readouterr()
    code = rewardedit(
        "reward-score",
        pair.source,
        pair.first,
        "--instruction",
        pair.instruction,
        "--reward-model",
        final,
        "--device",
        "cpu",
        "--json",
    )
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["instruction_following"] == pytest.approx(scores.instruction_following, abs=1e-5)
    assert printed["visual_quality"] == pytest.approx(scores.visual_quality, abs=1e-5)
    evaluations = [json.loads(line) for line in (out / "logs/eval.jsonl").read_text().splitlines()]
    assert evaluations == []  # no eval_pairs given


def test_the_command_takes_a_yaml_config_with_flags_over_it(pairs, tmp_path, capsys):
    yaml_file = tmp_path / "train.yaml"
    out = tmp_path / "cli"
    yaml_file.write_text(
        f"train_pairs: {pairs}\nshape: small\nout: {out}\nmax_steps: 5\nbatch_size: 4\n"
        f"gradient_accumulation_steps: 1\nmc_samples: 4\neval_pairs: {pairs}\n",
        encoding="utf-8",
    )
    code = rewardedit("train-reward", "--config", yaml_file, "--max-steps", "1", "--loss", "bt")
    assert code == 0 and (out / "final/model.safetensors").is_file()
    (evaluation,) = [json.loads(line) for line in (out / "logs/eval.jsonl").read_text().splitlines()]
    assert evaluation["step"] == 1 and 0 <= evaluation["following_acc"] <= 1
    assert rewardedit("train-reward", "--config", yaml_file, "--loss", "hinge") == 2


def test_mixed_precision_is_refused_on_a_cpu(pairs, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrainRewardError, match="needs CUDA"):
        train(config(pairs, tmp_path / "bf16", mixed_precision="bf16"))


def test_a_frozen_vision_tower_stays_as_it_started(pairs, tmp_path):
    out = tmp_path / "frozen"
    train(config(pairs, out, freeze_vision_tower=True, max_steps=2, loss="bt", checkpoint_every=1))
    first, last = weights(out / "checkpoint-1"), weights(out / "final")
    visual = [name for name in first if name.startswith("model.visual.")]
    assert visual and all(torch.equal(first[name], last[name]) for name in visual)
    assert not torch.equal(first["rm_heads.head_0.0.weight"], last["rm_heads.head_0.0.weight"])


def test_lora_checkpoints_hold_merged_weights_under_the_released_names_and_resume(pairs, tmp_path):
    pytest.importorskip("peft")
    whole = tmp_path / "lora"
    fields = {"lora": True, "lora_rank": 4, "lora_alpha": 8, "loss": "bt", "learning_rate": 1e-2}
    train(config(pairs, whole, **fields))
    final = weights(whole / "final")
    assert not any("lora" in name or "base_layer" in name for name in final)
    # The merged projection moved away from the frozen base weight the raw state keeps.
    raw = load_file(str(whole / "checkpoint-4/training_state/model.safetensors"))
    name = "model.language_model.layers.0.self_attn.q_proj"
    assert not torch.equal(final[f"{name}.weight"], raw[f"{name}.base_layer.weight"])
    EditRewardScorer.from_pretrained(whole / "final", device="cpu")  # the strict loader takes it
    stopped = tmp_path / "lora-stopped"
    stopped.mkdir()
    shutil.copytree(whole / "checkpoint-2", stopped / "checkpoint-2")
    shutil.copytree(whole / "base", stopped / "base")
    train(config(pairs, stopped, resume=True, **fields))
    got = weights(stopped / "final")
    assert all(torch.equal(final[k], got[k]) for k in final)


def test_gradient_checkpointing_trains_the_same_weights(pairs, tmp_path):
    plain = train(config(pairs, tmp_path / "plain", max_steps=1, loss="bt"))
    checkpointed = train(
        config(pairs, tmp_path / "ckpt", max_steps=1, loss="bt", gradient_checkpointing=True)
    )
    expected, got = weights(plain), weights(checkpointed)
    assert all(torch.allclose(expected[k], got[k], atol=1e-6) for k in expected)


def test_training_starts_from_a_base_folders_weights_with_the_reward_token_row_added(pairs, tmp_path):
    from judge.editreward.random_model import write_base_folder
    from judge.reward_training.model_init import start_model

    base = write_base_folder(tmp_path / "base", "small", seed=7)  # bf16 weights under the old names
    started = start_model(config(pairs, tmp_path / "out", shape=None, base_model=base), base)
    saved = load_file(str(base / "model.safetensors"))
    state = started.model.state_dict()
    name = "layers.0.self_attn.q_proj.weight"
    assert torch.equal(state[f"model.language_model.{name}"], saved[f"model.{name}"].float())
    embeddings, old = state["model.language_model.embed_tokens.weight"], saved["model.embed_tokens.weight"]
    assert embeddings.shape[0] == started.base.vocabulary_size
    assert torch.equal(embeddings[: old.shape[0]], old.float()[: embeddings.shape[0]])
    assert started.lm_head is not None and started.lm_head.shape == embeddings.shape
    bare = write_base_folder(tmp_path / "bare", "small", seed=None)  # config and tokenizer, no weights
    with pytest.raises(ValueError, match="holds no"):
        start_model(config(pairs, tmp_path / "o2", shape=None, base_model=bare), bare)
