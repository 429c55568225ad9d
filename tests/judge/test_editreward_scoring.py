"""EditReward scores from a checkpoint in the released layout: the real loading code, the real model.

The reference here is transformers' own Qwen2.5-VL forward (its image features, its scatter into
the image tokens) on a model loaded independently from the same file, with the heads applied to
the final hidden state at `<|Reward|>`: what the release computes for an unpadded row.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

from judge.editreward import EditRewardScorer, EditToScore, RewardCheckpointError
from judge.editreward.base_folder import read_base_folder
from judge.editreward.inputs import InputBuilder
from judge.editreward.model import reward_head

from .helpers import rewardedit

INSTRUCTIONS = ("make the sky purple", "remove the red car", "add a hat to the dog")


def noise(width: int, height: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def edits() -> list[EditToScore]:
    """Three edits with images of three sizes (so rows differ in length)."""
    sizes = ((64, 64), (96, 64), (70, 120))
    return [
        EditToScore(noise(*size, seed=2 * i), noise(*size, seed=2 * i + 1), instruction)
        for i, (size, instruction) in enumerate(zip(sizes, INSTRUCTIONS, strict=True))
    ]


@pytest.fixture(scope="module")
def scorer(tiny_editreward) -> EditRewardScorer:
    return EditRewardScorer.from_pretrained(tiny_editreward.reward, tiny_editreward.base, device="cpu")


def reference_mus(tiny_editreward, edit: EditToScore, mrope: bool = False) -> list[float]:
    """Each head's mu through transformers' forward, weights loaded by hand (prefix `model.` stripped)."""
    base = read_base_folder(tiny_editreward.base)
    config = base.config
    config.text_config.vocab_size = base.vocabulary_size
    state = load_file(str(tiny_editreward.reward / "model.safetensors"))
    backbone = Qwen2_5_VLModel(config).float().eval()
    backbone.load_state_dict(
        {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    )
    inputs = InputBuilder(base).build([edit], heads=(0, 1))
    mus = []
    for row in range(2):
        head = reward_head(config.text_config.hidden_size).eval()
        head.load_state_dict(
            {k.split(".", 2)[2]: v for k, v in state.items() if k.startswith(f"rm_heads.head_{row}.")}
        )
        ids = inputs.input_ids[row : row + 1, : int(inputs.attention_mask[row].sum())]
        extra = {"mm_token_type_ids": (ids == config.image_token_id).int()} if mrope else {}
        with torch.no_grad():
            hidden = backbone(
                input_ids=ids,
                pixel_values=inputs.pixel_values,
                image_grid_thw=inputs.image_grid_thw,
                attention_mask=torch.ones_like(ids),
                **extra,
            ).last_hidden_state
            mus.append(float(head(hidden[0, int(inputs.reward_positions[row])].float())[0]))
    return mus


def test_the_checkpoint_is_in_the_released_layouts(tiny_editreward):
    with safe_open(str(tiny_editreward.reward / "model.safetensors"), "pt") as file:
        reward_keys = set(file.keys())
    for key in (
        "model.language_model.embed_tokens.weight",
        "model.language_model.layers.1.self_attn.q_proj.bias",
        "model.language_model.norm.weight",
        "model.visual.patch_embed.proj.weight",
        "model.visual.merger.mlp.2.weight",
        "lm_head.weight",
        *(f"rm_heads.head_{h}.{i}.{p}" for h in (0, 1) for i in (0, 3, 5) for p in ("weight", "bias")),
    ):
        assert key in reward_keys, key
    assert {key.split(".")[0] for key in reward_keys} == {"model", "lm_head", "rm_heads"}
    with safe_open(str(tiny_editreward.base / "model.safetensors"), "pt") as file:
        base_keys = set(file.keys())
    assert "model.layers.0.mlp.up_proj.weight" in base_keys and "visual.blocks.0.attn.qkv.weight" in base_keys
    assert not any(key.startswith(("model.language_model.", "model.visual.")) for key in base_keys)
    config = json.loads((tiny_editreward.base / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl" and "hidden_size" in config  # text settings at the top


def test_scores_are_the_release_computation(tiny_editreward, scorer):
    for edit in edits()[:2]:
        (scores,) = scorer.score([edit])
        expected = reference_mus(tiny_editreward, edit)
        assert [scores.instruction_following, scores.visual_quality] == pytest.approx(expected, abs=1e-5)
        assert scores.overall == pytest.approx(sum(expected) / 2, abs=1e-5)


def test_positions_are_plain_1d_not_multimodal_rope(tiny_editreward, scorer):
    """The release runs its language model with input_ids=None, so no M-RoPE: using it changes scores."""
    edit = edits()[0]
    (scores,) = scorer.score([edit])
    with_mrope = reference_mus(tiny_editreward, edit, mrope=True)
    assert abs(scores.instruction_following - with_mrope[0]) > 1e-3


def test_a_batch_scores_as_its_items_alone(scorer):
    items = edits()
    alone = [scorer.score([edit])[0] for edit in items]
    together = scorer.score(items)
    for one, batched in zip(alone, together, strict=True):
        assert batched.to_dict() == pytest.approx(one.to_dict(), abs=1e-5)
    values = [s.instruction_following for s in alone] + [s.visual_quality for s in alone]
    assert np.ptp(values) > 1e-2  # the edits score differently, so the comparison means something


def test_one_head_at_a_time(scorer):
    edit = edits()[1]
    both = scorer.score([edit])[0]
    quality = scorer.score([edit], heads=(1,))[0]
    assert quality.instruction_following is None and quality.overall is None
    assert quality.visual_quality == pytest.approx(both.visual_quality, abs=1e-5)


def test_a_checkpoint_with_pre_4_52_names_loads_the_same(tiny_editreward, scorer, tmp_path):
    state = load_file(str(tiny_editreward.reward / "model.safetensors"))
    renames = (("model.language_model.", "model."), ("model.visual.", "visual."))
    old = {}
    for key, tensor in state.items():
        for new_prefix, old_prefix in renames:
            if key.startswith(new_prefix):
                key = old_prefix + key.removeprefix(new_prefix)
                break
        old[key] = tensor
    (tmp_path / "old").mkdir()
    save_file(old, str(tmp_path / "old" / "model.safetensors"))
    loaded = EditRewardScorer.from_pretrained(tmp_path / "old", tiny_editreward.base, device="cpu")
    edit = edits()[0]
    assert loaded.score([edit])[0].to_dict() == pytest.approx(scorer.score([edit])[0].to_dict(), abs=1e-6)


def broken_checkpoint(tiny_editreward, folder: Path, change) -> Path:
    state = load_file(str(tiny_editreward.reward / "model.safetensors"))
    change(state)
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    return folder


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("rm_heads.head_1.5.weight"), r"1 missing: rm_heads\.head_1\.5\.weight"),
        (
            lambda s: s.pop("model.language_model.layers.1.mlp.down_proj.weight"),
            r"1 missing: .*layers\.1\.mlp",
        ),
        (lambda s: s.pop("lm_head.weight"), r"missing lm_head\.weight"),
        (lambda s: s.update({"rm_head.0.weight": torch.zeros(2)}), r"1 unexpected: rm_head\.0\.weight"),
        (
            lambda s: s.update({"visual.merger.ln_q.weight": s["model.visual.merger.ln_q.weight"].clone()}),
            r"1 named twice: model\.visual\.merger\.ln_q\.weight",
        ),
        (
            lambda s: s.update({"rm_heads.head_0.0.weight": torch.zeros(1024, 8)}),
            r"1 of another shape: rm_heads\.head_0\.0\.weight \(1024, 8\)",
        ),
    ],
    ids=["head", "layer", "lm_head", "extra", "twice", "shape"],
)
def test_a_weight_missing_left_over_or_misshapen_fails_loudly(tiny_editreward, tmp_path, change, message):
    folder = broken_checkpoint(tiny_editreward, tmp_path / "broken", change)
    with pytest.raises(RewardCheckpointError, match=message):
        EditRewardScorer.from_pretrained(folder, tiny_editreward.base, device="cpu")


def test_a_base_folder_whose_tokenizer_does_not_fit_fails_loudly(tiny_editreward, tmp_path):
    """Another tokenizer means another embedding size: never a silently misread vocabulary."""
    folder = broken_checkpoint(
        tiny_editreward,
        tmp_path / "short",
        lambda s: s.update(
            {name: s[name][:-3] for name in ("model.language_model.embed_tokens.weight", "lm_head.weight")}
        ),
    )
    shapes = (
        r"2 of another shape: lm_head\.weight \(\d+, 64\) \(expected \(\d+, 64\)\), model\.language_model"
    )
    with pytest.raises(RewardCheckpointError, match=shapes):
        EditRewardScorer.from_pretrained(folder, tiny_editreward.base, device="cpu")


def test_missing_files_are_named(tiny_editreward, tmp_path):
    with pytest.raises(RewardCheckpointError, match=r"no model\.safetensors"):
        EditRewardScorer.from_pretrained(tmp_path, tiny_editreward.base, device="cpu")
    with pytest.raises(ValueError, match=r"no config\.json; is it the base model folder \(--base-model\)"):
        EditRewardScorer.from_pretrained(tiny_editreward.reward, device="cpu")


def test_reward_score_prints_the_contract_json(tiny_editreward, scorer, tmp_path, capsys):
    edit = edits()[2]
    edit.source.save(tmp_path / "source.png")
    edit.edited.save(tmp_path / "edited.png")
    code = rewardedit(
        "reward-score", tmp_path / "source.png", tmp_path / "edited.png", "--instruction", edit.instruction,
        "--reward-model", tiny_editreward.reward, "--base-model", tiny_editreward.base, "--device", "cpu",
        "--json",
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == ["instruction_following", "visual_quality", "overall"]
    assert printed == pytest.approx(scorer.score([edit])[0].to_dict(), abs=1e-5)
    assert printed["overall"] == pytest.approx(
        (printed["instruction_following"] + printed["visual_quality"]) / 2
    )


def test_reward_score_reports_bad_inputs(tiny_editreward, tmp_path, capsys):
    code = rewardedit(
        "reward-score", tmp_path / "nope.png", tmp_path / "nope.png", "--instruction", "x",
        "--reward-model", tiny_editreward.reward, "--base-model", tiny_editreward.base, "--json",
    )  # fmt: skip
    assert code == 2 and "rewardedit: error:" in capsys.readouterr().err


def test_heads_run_in_fp32_under_a_bf16_backbone(tiny_editreward):
    bf16 = EditRewardScorer.from_pretrained(
        tiny_editreward.reward, tiny_editreward.base, "cpu", torch.bfloat16
    )
    assert all(p.dtype == torch.float32 for p in bf16.model.rm_heads.parameters())
    assert bf16.model.model.language_model.embed_tokens.weight.dtype == torch.bfloat16
    assert isinstance(bf16.model.rm_heads["head_0"], nn.Sequential)
    (scores,) = bf16.score([edits()[0]])
    assert np.isfinite(scores.overall)
