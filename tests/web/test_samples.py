"""The sample images the page offers are the committed output of tests/web/samples.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from api.routers.page import SAMPLE_FOLDER, SAMPLE_INDEX, sample_buttons, sample_names
from synth.generate import BENCHMARK_STREAM, CAPTION_STREAM, TRAIN_STREAM
from synth.truth import TRUTH_KEY
from synth.vocabulary import CATEGORIES as ALL_CATEGORIES

from .samples import CATEGORIES, FOLDER, SAMPLE_STREAM, SIDE, index_of, samples


def test_the_committed_samples_are_the_generated_ones():
    drawn = samples()
    assert sorted(sample.file for sample in drawn) == sample_names(SAMPLE_FOLDER)
    assert json.loads((FOLDER / SAMPLE_INDEX).read_text(encoding="utf-8")) == index_of(drawn)
    for sample in drawn:
        with Image.open(FOLDER / sample.file) as committed:
            assert committed.format == "PNG" and committed.mode == "RGB", sample.file
            assert committed.size == (SIDE, SIDE), sample.file
            assert TRUTH_KEY not in committed.info, sample.file  # stripped: see samples.py
            assert np.array_equal(np.asarray(committed), np.asarray(sample.image)), sample.file


def test_the_samples_are_unseen_scenes_covering_most_categories():
    assert SAMPLE_STREAM not in (TRAIN_STREAM, BENCHMARK_STREAM, CAPTION_STREAM)
    assert set(CATEGORIES) <= set(ALL_CATEGORIES) and len(set(CATEGORIES)) >= 5


def write_png(path: Path) -> None:
    Image.new("RGB", (SIDE, SIDE), (10, 20, 30)).save(path)


def test_a_sample_without_a_suggestion_is_still_offered(tmp_path):
    write_png(tmp_path / "plain.png")
    assert sample_buttons(tmp_path) == (
        '<button type="button" class="sample" data-src="/static/samples/plain.png" title="plain">'
        '<img src="/static/samples/plain.png" alt="sample plain"></button>'
    )

    write_png(tmp_path / "known.png")
    entry = {"instruction": 'make the "red" square <blue>', "category": "local"}
    (tmp_path / SAMPLE_INDEX).write_text(json.dumps({"known.png": entry}), encoding="utf-8")
    known, plain = sample_buttons(tmp_path).split("\n")
    suggestion = "make the &quot;red&quot; square &lt;blue&gt;"
    assert f'title="{suggestion}" data-instruction="{suggestion}"' in known
    assert "data-instruction" not in plain and 'title="plain"' in plain
