"""Captioned scenes: text-to-image rows that name everything the renderer draws."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.presets import build_preset
from rewardedit.cli import main
from synth.captions import EFFECT_WORDS, caption, captioned_scene, region
from synth.generate import CAPTION_STREAM, write_captions
from synth.render import render_array
from synth.scene import Background, Scene, Shape
from training.manifest import read_manifest


def test_a_caption_names_each_shape_the_background_and_the_effect() -> None:
    scene = Scene(
        64,
        64,
        Background("cream", "stripes", "navy"),
        (Shape("square", "red", 12, 14, 5, "striped"), Shape("circle", "orange", 50, 40, 6)),
        style="pixelate",
    )
    assert caption(scene) == (
        "a red striped square in the top left and an orange circle in the bottom right , "
        "on a cream background with navy stripes , as pixel art"
    )
    assert caption(replace(scene, style="none", filter="darker")).endswith("navy stripes , at dusk")


def test_a_shape_on_the_middle_line_belongs_to_the_bottom_right() -> None:
    scene = Scene(64, 64, Background("cream"))
    assert region(Shape("square", "red", 32, 32, 4), scene) == "bottom right"
    assert region(Shape("square", "red", 31, 31, 4), scene) == "top left"


def test_captioned_scenes_carry_every_effect_and_at_most_one_each() -> None:
    scenes = [captioned_scene(np.random.default_rng([0, CAPTION_STREAM, i])) for i in range(400)]
    effects = {s.filter for s in scenes} | {s.style for s in scenes}
    assert effects == {"none", *EFFECT_WORDS}
    assert all(s.filter == "none" or s.style == "none" for s in scenes)
    assert 0.35 < sum(s.filter == s.style == "none" for s in scenes) / len(scenes) < 0.65


def test_written_captions_are_a_manifest_of_scenes_drawn_from_a_blank_source(tmp_path: Path) -> None:
    rows = write_captions(tmp_path / "one", 6, seed=3)
    assert [row.id for row in read_manifest(tmp_path / "one" / "manifest.jsonl")] == [r.id for r in rows]
    blank = np.asarray(Image.open(rows[0].source))
    assert {row.source for row in rows} == {rows[0].source} and (blank == 128).all()
    scene = captioned_scene(np.random.default_rng([3, CAPTION_STREAM, 4]))
    assert rows[4].instruction == caption(scene) and rows[4].rewards is None
    assert (np.asarray(Image.open(rows[4].edited)) == render_array(scene)).all()
    # Two workers write the same files as one.
    assert [r.instruction for r in write_captions(tmp_path / "two", 6, seed=3, workers=2)] == [
        r.instruction for r in rows
    ]


def test_the_blank_source_encodes_to_the_latent_image_dropout_trains_on() -> None:
    import torch

    vae = build_preset("pixel").vae
    blank = torch.full((1, 3, 64, 64), 128 / 127.5 - 1)
    latent = vae.encode(blank).latent_dist.mode() * vae.config.scaling_factor
    assert latent.abs().max() < 0.01


def test_every_caption_word_is_one_token_of_the_presets_vocabulary() -> None:
    tokenizer = build_preset("tiny").tokenizer
    for i in range(50):
        text = caption(captioned_scene(np.random.default_rng([1, CAPTION_STREAM, i])))
        assert len(tokenizer(text).input_ids) == len(text.split()) + 2  # start and end tokens


def test_synth_captions_refuses_a_bad_count_before_writing(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["synth-captions", "--out", str(tmp_path / "c"), "--count", "0"])
    assert exit_info.value.code == 2 and "--count must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
