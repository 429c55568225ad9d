"""The editing world: scenes, edits and their exact ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from synth.edits import EditCase
from synth.render import render_array, shape_mask
from synth.sampling import random_scene
from synth.scene import Scene
from synth.vocabulary import CATEGORIES, FILTERS


def changed(case: EditCase) -> np.ndarray:
    return (render_array(case.before) != render_array(case.after)).any(-1)


def test_every_category_has_several_phrasings(cases: list[EditCase]) -> None:
    for category in CATEGORIES:
        openings = {c.instruction.split()[0] for c in cases if c.category == category}
        assert len(openings) >= 2 or category == "style", (category, openings)


def test_remove_leaves_a_scene_without_the_object(cases: list[EditCase]) -> None:
    for case in (c for c in cases if c.category == "remove"):
        (gone,) = set(case.before.shapes) - set(case.after.shapes)
        assert len(case.after.shapes) == len(case.before.shapes) - 1
        assert gone.name in case.instruction
        assert np.array_equal(changed(case), shape_mask(gone, 64, 64))


def test_add_changes_only_the_new_object(cases: list[EditCase]) -> None:
    for case in (c for c in cases if c.category == "add"):
        (new,) = set(case.after.shapes) - set(case.before.shapes)
        assert new.name in case.instruction
        assert np.array_equal(changed(case), shape_mask(new, 64, 64))


def test_an_added_shape_takes_the_named_quadrants_centre_at_middle_size(cases: list[EditCase]) -> None:
    centres = {"top left": (16, 16), "top right": (48, 16), "bottom left": (16, 48), "bottom right": (48, 48)}
    added = [c for c in cases if c.category == "add"]
    assert added
    for case in added:
        (new,) = set(case.after.shapes) - set(case.before.shapes)
        (region,) = [r for r in centres if r in case.instruction]
        assert ((new.x, new.y), new.size, new.texture) == (centres[region], 8, "solid")


def test_a_shapes_colour_alone_names_it_before_and_after_every_edit(cases: list[EditCase]) -> None:
    for case in cases:
        for scene in (case.before, case.after):
            colours = [s.colour for s in scene.shapes]
            assert 1 <= len(colours) <= 5, case.instruction  # 2-4 shapes, one more or fewer after an edit
            assert len(set(colours)) == len(colours), case.instruction
            assert not {scene.background.colour, scene.background.accent} & set(colours), case.instruction


@pytest.mark.parametrize("name", [f for f in FILTERS if f != "none"])
def test_global_filters_change_every_pixel(cases: list[EditCase], name: str) -> None:
    for scene in {c.before for c in cases}:
        after = Scene.from_dict({**scene.to_dict(), "filter": name})
        assert (render_array(scene) != render_array(after)).any(-1).all()


def test_local_edits_stay_inside_their_object(cases: list[EditCase]) -> None:
    for case in (c for c in cases if c.category in ("local", "texture")):
        touched = [
            i for i, (a, b) in enumerate(zip(case.before.shapes, case.after.shapes, strict=True)) if a != b
        ]
        assert len(touched) == 1
        region = shape_mask(case.before.shapes[touched[0]], 64, 64) | shape_mask(
            case.after.shapes[touched[0]], 64, 64
        )
        assert changed(case).any() and not (changed(case) & ~region).any()


def test_scene_json_round_trip_and_larger_sizes(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 128, 96)
    assert Scene.from_json(scene.to_json()) == scene
    assert render_array(scene).shape == (96, 128, 3)
