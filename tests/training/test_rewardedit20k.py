"""The RewardEdit-20K importer: sample folders + rewards JSON -> manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from model import Rewards
from rewardedit.cli import main
from training import ManifestError, import_rewardedit20k, read_manifest


def labels(following: float, preserving: float, quality: float) -> list[dict]:
    texts = ("the hat is missing", "None", "blurry edges")
    scores = (following, preserving, quality)
    return [{"Score": s, "Negative Prompt": t} for s, t in zip(scores, texts, strict=True)]


def sample_folder(root: Path, name: str, seed: int, edit: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    Image.new("RGB", (72, 64), (10, 20, 30)).save(folder / f"{seed}_0.jpg")
    Image.new("RGB", (72, 64), (200, 20, 30)).save(folder / f"{seed}_1.jpg")
    (folder / "prompt.json").write_text(json.dumps({"input": "a cat", "edit": edit, "output": "a red cat"}))


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "pix2pix" / "train"
    sample_folder(images, "shard-00/0001", 1234, "make the cat red")
    sample_folder(images, "shard-00/0002", 99, "add a hat")
    rewards = tmp_path / "RewardEdit_20K.json"
    rewards.write_text(json.dumps({"shard-00/0001": labels(3, 5, 4), "shard-00/0002": labels(1, "4.5", 2)}))
    return images, rewards


def test_import_writes_a_manifest_with_rewards_in_perspective_order(release, tmp_path):
    images, rewards = release
    result = import_rewardedit20k(images, rewards, tmp_path / "out" / "manifest.jsonl")
    assert (result.written, result.skipped) == (2, 0)

    rows = read_manifest(result.manifest)
    first, second = rows
    assert first.id == "shard-00/0001" and first.instruction == "make the cat red"
    assert first.source == images / "shard-00/0001/1234_0.jpg"
    assert first.edited == images / "shard-00/0001/1234_1.jpg"
    assert first.rewards == Rewards(3, 5, 4, "the hat is missing", "None", "blurry edges")
    assert second.rewards.scores == (1.0, 4.5, 2.0)
    record = json.loads(result.manifest.read_text().splitlines()[0])
    assert record["source"] == "../pix2pix/train/shard-00/0001/1234_0.jpg"


def test_missing_folder_fails_unless_skipped(release, tmp_path):
    images, rewards = release
    data = json.loads(rewards.read_text())
    rewards.write_text(json.dumps({**data, "shard-01/0404": labels(5, 5, 5)}))
    with pytest.raises(ManifestError, match=r"sample 'shard-01/0404': folder .* not found"):
        import_rewardedit20k(images, rewards, tmp_path / "manifest.jsonl")

    result = import_rewardedit20k(images, rewards, tmp_path / "manifest.jsonl", skip_invalid=True)
    assert (result.written, result.skipped) == (2, 1)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (labels(3, 6, 4), r"reward score 'preserving' must be in \[0, 5\]"),
        (labels(3, 5, 4)[:2], "expected three"),
        ([{"Score": 3}, {"Score": 3}, {"Score": 3}], "bad reward entry"),
    ],
)
def test_bad_reward_entries_are_refused(release, tmp_path, entries, message):
    images, rewards = release
    rewards.write_text(json.dumps({"shard-00/0001": entries}))
    with pytest.raises(ManifestError, match=message):
        import_rewardedit20k(images, rewards, tmp_path / "manifest.jsonl")


def test_import_command(release, tmp_path, capsys):
    images, rewards = release
    out = tmp_path / "manifest.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        main(["import-rewardedit20k", "--images", str(images), "--rewards", str(rewards), "--out", str(out)])
    assert exit_info.value.code == 0
    assert "wrote 2 samples" in capsys.readouterr().out
    assert len(read_manifest(out)) == 2
