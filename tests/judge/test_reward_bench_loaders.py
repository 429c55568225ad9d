"""Each benchmark loader on a small file in its published layout, written here."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from judge.errors import InputFileError
from judge.reward_bench import aurora_bench, editreward_bench, genai_bench, imagenhub
from judge.reward_bench.items import PAIRWISE, RANKING, RATING

pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def cell(value: int) -> dict[str, object]:
    """A Hugging Face `Image` feature as parquet stores it."""
    return {"bytes": png(value), "path": f"{value}.png"}


def write_parquet(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_pngs(folder, *names):
    for n, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), 10 * n, dtype=np.uint8)).save(folder / name)


def test_genai_bench_reads_the_arena_votes_of_the_parquet_release(tmp_path):
    votes = ["leftvote", "rightvote", "tievote", "bothbad_vote"]
    rows = [
        {
            "source_prompt": "a cat",
            "target_prompt": "a blue cat",
            "instruct_prompt": f"make it blue {n}",
            "source_image": cell(0),
            "left_model": "m1",
            "left_output_image": cell(100 + n),
            "right_model": "m2",
            "right_output_image": cell(200 + n),
            "vote_type": vote,
        }
        for n, vote in enumerate(votes)
    ]
    path = write_parquet(tmp_path / "image_edition" / "test-00000-of-00001.parquet", rows)
    bench = genai_bench.load(path.parent)
    assert bench.kind == PAIRWISE
    assert [item.relations[(0, 1)] for item in bench.items] == [1, -1, 0, 0]
    assert bench.items[1].instruction == "make it blue 1"
    assert np.asarray(bench.items[2].candidates[1].open())[0, 0, 0] == 202
    assert bench.items[0].source.open().size == (8, 8)


def test_genai_bench_refuses_an_unknown_vote(tmp_path):
    path = write_parquet(
        tmp_path / "x.parquet",
        [{"instruct_prompt": "x", "source_image": cell(0), "left_output_image": cell(1),
          "right_output_image": cell(2), "vote_type": "upvote"}],
    )  # fmt: skip
    with pytest.raises(InputFileError, match="upvote"):
        genai_bench.load(path)


@pytest.mark.parametrize("loader", [genai_bench, aurora_bench])
def test_pairwise_benchmarks_read_editreward_evaluation_json(tmp_path, loader):
    write_pngs(tmp_path, "src/0.png", "out/a.png", "out/b.png")
    rows = [
        {"prompt": "add a hat", "path_src": "src/0.png", "path1": "out/a.png", "path2": "out/b.png",
         "model1_dim1_score": s1, "model2_dim1_score": s2}
        for s1, s2 in [(4, 2), (1, 3), (2.5, 2.5)]
    ]  # fmt: skip
    (tmp_path / "pairs.json").write_text(json.dumps(rows))
    bench = loader.load(tmp_path / "pairs.json")
    assert bench.name == loader.NAME
    assert [item.relations[(0, 1)] for item in bench.items] == [1, -1, 0]
    assert bench.items[0].candidates[0].path == tmp_path / "out/a.png"
    assert bench.items[0].instruction == "add a hat"


def test_imagenhub_reads_ratings_per_editing_model(tmp_path):
    write_pngs(tmp_path, "in/0.png", "out/0.png", "out/1.png")
    rows = [
        {"instruction": "remove the car", "input_path": "in/0.png", "output_path": "out/0.png",
         "score": 0.5, "model": "InstructPix2Pix", "filename": "sample_0.jpg"},
        {"instruction": "remove the car", "input_path": "in/0.png", "output_path": "out/1.png",
         "score": 1.0, "model": "MagicBrush", "filename": "sample_1.jpg"},
    ]  # fmt: skip
    (tmp_path / "imagenhub.json").write_text(json.dumps(rows))
    bench = imagenhub.load(tmp_path / "imagenhub.json")
    assert bench.kind == RATING
    assert [(i.id, i.group, i.rating) for i in bench.items] == [
        ("sample_0.jpg", "InstructPix2Pix", 0.5),
        ("sample_1.jpg", "MagicBrush", 1.0),
    ]
    assert len(bench.items[0].candidates) == 1


def test_editreward_bench_regroups_the_parquet_release_rows(tmp_path):
    def row(row_id, subset, kind, ranking, first, second):
        return {
            "id": row_id, "dataset": subset, "instruction": "make it night", "source_image": cell(0),
            "candidate_1": cell(first), "candidate_2": cell(second), "comparison_type": kind,
            "ranking": ranking, "score_1": 1.0, "score_2": 2.0, "model_1": "m1", "model_2": "m2",
        }  # fmt: skip

    write_parquet(
        tmp_path / "2pair" / "train-00000-of-00001.parquet", [row("g1_0", "2pair", "AvsB", "A=B", 1, 2)]
    )
    # Candidates A=10, B=20, C=30 ranked C > A > B, one row per pair (ranking may name either side first).
    write_parquet(
        tmp_path / "3pair" / "train-00000-of-00001.parquet",
        [row("g2_0", "3pair", "AvsB", "A>B", 10, 20), row("g2_1", "3pair", "AvsC", "C>A", 10, 30),
         row("g2_2", "3pair", "BvsC", "C>B", 20, 30)],
    )  # fmt: skip
    bench = editreward_bench.load(tmp_path)
    assert bench.kind == RANKING
    by_id = {item.id: item for item in bench.items}
    assert by_id["g1"].relations == {(0, 1): 0} and by_id["g1"].group == "2pair"
    three = by_id["g2"]
    assert three.group == "3pair"
    assert three.relations == {(0, 1): 1, (0, 2): -1, (1, 2): -1}
    assert [np.asarray(c.open())[0, 0, 0] for c in three.candidates] == [10, 20, 30]


def test_editreward_bench_reads_editreward_evaluation_json(tmp_path):
    write_pngs(tmp_path, "s.png", "a.png", "b.png", "c.png")
    rows = [
        {"prompt": "p", "path_src": "s.png", "paths_generated": ["a.png", "b.png"],
         "human_vote": {"ranking": "A=B=Good", "preference": "A=B=Good"}},
        {"prompt": "p", "path_src": "s.png", "paths_generated": ["a.png", "b.png", "c.png"],
         "human_vote": {"ranking": "C>A>B"}},
    ]  # fmt: skip
    (tmp_path / "EditReward_Bench_3pair.json").write_text(json.dumps(rows))
    bench = editreward_bench.load(tmp_path / "EditReward_Bench_3pair.json")
    assert [item.group for item in bench.items] == ["2pair", "3pair"]
    assert bench.items[0].relations == {(0, 1): 0}
    assert bench.items[1].relations == {(0, 1): 1, (0, 2): -1, (1, 2): -1}


def test_editreward_bench_refuses_a_ranking_that_leaves_a_candidate_out(tmp_path):
    write_pngs(tmp_path, "s.png", "a.png", "b.png", "c.png")
    rows = [{"prompt": "p", "path_src": "s.png", "paths_generated": ["a.png", "b.png", "c.png"],
             "human_vote": {"ranking": "A>B"}}]  # fmt: skip
    (tmp_path / "g.json").write_text(json.dumps(rows))
    with pytest.raises(InputFileError, match="every pair"):
        editreward_bench.load(tmp_path / "g.json")
