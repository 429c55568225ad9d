"""Reading and writing the manifest; bad lines are refused with their line number."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from rewardedit.cli import main
from training import ManifestError, read_manifest, write_manifest

from .helpers import LABELLED, make_dataset


def test_written_manifest_reads_back_with_paths_relative_to_its_folder(manifest):
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert lines[0]["source"] == "0_0.png"
    assert lines[0]["rewards"]["following"] == {"score": 2.0, "text": "the sky is still grey"}
    assert "rewards" not in lines[1]

    rows = read_manifest(manifest)
    assert [row.line for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].source == manifest.parent / "0_0.png"
    assert rows[0].rewards == LABELLED
    assert rows[1].rewards is None


def test_a_mask_reads_back_and_a_row_without_one_has_none(tmp_path):
    manifest = make_dataset(tmp_path, count=2, masked=True)
    assert json.loads(manifest.read_text().splitlines()[0])["mask"] == "0_mask.png"
    rows = read_manifest(manifest)
    assert rows[0].mask == tmp_path / "0_mask.png"
    assert read_manifest(write_manifest([replace(rows[0], mask=None)], tmp_path / "m.jsonl"))[0].mask is None


def copy_with_line(manifest: Path, folder: Path, number: int, record: dict | str) -> Path:
    """A copy of `manifest` (and its images) where line `number` is replaced."""
    shutil.copytree(manifest.parent, folder, dirs_exist_ok=True)
    lines = (folder / manifest.name).read_text().splitlines()
    lines[number - 1] = record if isinstance(record, str) else json.dumps(record)
    (folder / manifest.name).write_text("\n".join(lines) + "\n")
    return folder / manifest.name


def line_record(manifest: Path, number: int) -> dict:
    return json.loads(manifest.read_text().splitlines()[number - 1])


@pytest.mark.parametrize(
    ("number", "edit", "message"),
    [
        (3, lambda r: {**r, "source": "missing.png"}, r"line 3: source file 'missing.png' not found"),
        (4, lambda r: {**r, "edited": "../nowhere/1_1.png"}, r"line 4: edited file '../nowhere/1_1.png'"),
        (
            5,
            lambda r: {**r, "rewards": {**r["rewards"], "quality": {"score": 7, "text": "None"}}},
            r"line 5: reward score 'quality' must be in \[0, 5\], got 7",
        ),
        (
            1,
            lambda r: {**r, "rewards": {**r["rewards"], "following": {"score": -0.5}}},
            r"line 1: reward score 'following' must be in \[0, 5\]",
        ),
        (2, lambda r: {**r, "mask": "gone.png"}, r"line 2: mask file 'gone.png' not found"),
        (2, lambda r: '{"id": "s", "source": "0_0.png",', r"line 2: invalid JSON"),
        (6, lambda r: {**r, "instruction": ""}, r"line 6: 'instruction' must be a non-empty string"),
        (2, lambda r: {**r, "id": "sample/0"}, r"line 2: id 'sample/0' already used on line 1"),
        (3, lambda r: {**r, "rewards": {"following": 3}}, r"line 3: rewards.following must be an object"),
    ],
)
def test_bad_line_is_refused_naming_the_line(manifest, tmp_path, number, edit, message):
    bad = copy_with_line(manifest, tmp_path, number, edit(line_record(manifest, number)))
    with pytest.raises(ManifestError, match=message):
        read_manifest(bad)


def test_every_bad_line_is_reported_at_once(manifest, tmp_path):
    bad = copy_with_line(manifest, tmp_path, 2, "not json")
    lines = bad.read_text().splitlines()
    lines[4] = json.dumps({**json.loads(lines[4]), "source": "gone.png"})
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match=r"2 invalid line\(s\):\n  line 2: .*\n  line 5: source file"):
        read_manifest(bad)


def test_train_command_exits_with_the_line_in_the_message(manifest, tmp_path, capsys):
    bad = copy_with_line(manifest, tmp_path / "data", 4, "{broken")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--preset", "tiny", "--manifest", str(bad), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert "line 4: invalid JSON" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
