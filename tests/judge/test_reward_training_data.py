"""Both released preference-pair formats read into one pair record (fixture files written here)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from judge.reward_training.data import PairDataError, open_image, read_pairs


def png_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def record(**fields: object) -> dict[str, object]:
    base = {
        "prompt": "make it blue",
        "choice_dist": None,
        "confidence": None,
        "path_src": "a/source.png",
        "path1": "a/one.png",
        "path2": "a/two.png",
        "model1": "m1",
        "model2": "m2",
        "model1_dim1_score": 4,
        "model1_dim2_score": 2,
        "model1_overall_score": 6,
        "model2_dim1_score": 3,
        "model2_dim2_score": 3,
        "model2_overall_score": 6,
        "tie_case": True,
    }
    return {**base, **fields}


def write_json(tmp_path: Path, records: list[dict[str, object]]) -> Path:
    path = tmp_path / "train.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_training_json_gives_relations_per_dimension_and_the_tie_case(tmp_path):
    path = write_json(
        tmp_path,
        [
            record(),
            record(model2_dim1_score=4, model2_dim2_score=1, model2_overall_score=5, tie_case=False),
            record(path1="/abs/one.png", model1_dim2_score=None, model2_dim2_score=None, tie_case=False),
        ],
    )
    tie, preferred, partial = read_pairs(path)
    assert (tie.following, tie.quality, tie.overall) == (1, -1, 0)  # an overall tie split per dimension
    assert tie.instruction == "make it blue"
    assert tie.source == tmp_path / "a/source.png" and tie.first == tmp_path / "a/one.png"
    assert (preferred.following, preferred.quality, preferred.overall) == (0, 1, 1)
    assert partial.first == Path("/abs/one.png") and partial.quality is None and partial.overall == 1


def test_training_json_paths_start_from_image_root(tmp_path):
    (pair,) = read_pairs(write_json(tmp_path, [record()]), image_root=tmp_path / "images")
    assert pair.second == tmp_path / "images/a/two.png"


def test_the_released_valid_set_without_dim2_or_tie_case_counts_path1_as_preferred(tmp_path):
    valid = {k: v for k, v in record().items() if "dim2" not in k and k != "tie_case"}
    valid.update(model1_overall_score=0.9, model2_overall_score=0.08, model2_dim1_score=2)
    (pair,) = read_pairs(write_json(tmp_path, [valid]))
    assert (pair.following, pair.quality, pair.overall) == (1, None, 1)


@pytest.mark.parametrize(
    ("broken", "message"),
    [({"path1": None}, "non-empty strings"), ({"tie_case": False, "model2_overall_score": 9}, "preferred")],
)
def test_bad_training_json_records_are_named(tmp_path, broken, message):
    with pytest.raises(PairDataError, match=rf"record 0: .*{message}"):
        read_pairs(write_json(tmp_path, [record(**broken)]))


def test_a_record_without_a_prompt_is_named(tmp_path):
    bad = record()
    del bad["prompt"]
    with pytest.raises(PairDataError, match="record 0: no 'prompt'"):
        read_pairs(write_json(tmp_path, [bad]))


def test_editreward_data_parquet_reads_images_scores_and_votes(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    image = {"bytes": png_bytes((0, 0, 255)), "path": "x.png"}
    rows = {
        "instruction": ["make it blue", "remove the cat", "add a hat"],
        "source_img": [image, image, {"bytes": None, "path": "rel/src.png"}],
        "left_output_image": [image, image, image],
        "right_output_image": [image, image, image],
        "left_instruction_following": [4, 2, 3],
        "right_instruction_following": [3, 2, None],
        "left_quality_aesthetic": [2, 1, 3],
        "right_quality_aesthetic": [3, 4, 3],
        "left_overall": [6, 3, 6],
        "right_overall": [6, 6, 5],
        "vote_type": ["tievote", "rightvote", None],
    }
    path = tmp_path / "train-00000.parquet"
    pq.write_table(pa.table(rows), path)
    first, second, third = read_pairs(tmp_path)  # a folder of parquet files
    assert (first.following, first.quality, first.overall) == (1, -1, 0)
    assert (second.following, second.quality, second.overall) == (0, -1, -1)
    assert (third.following, third.quality, third.overall) == (None, 0, 1)  # no vote: the overall scores
    assert open_image(first.first).getpixel((0, 0)) == (0, 0, 255)
    assert third.source == tmp_path / "rel/src.png"


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        (  # one column per score, holding both sides
            {
                "instruction_following": [{"left": 1, "right": 4}],
                "quality_aesthetic": [[3, 3]],
                "vote_type": ["leftvote"],
            },
            (-1, 0, 1),
        ),
        (  # a column per side with a `_score` suffix
            {
                "left_instruction_following_score": [2],
                "right_instruction_following_score": [4],
                "left_quality_aesthetic_score": [3],
                "right_quality_aesthetic_score": [1],
                "left_overall_score": [5],
                "right_overall_score": [5],
            },
            (-1, 1, 0),
        ),
    ],
)
def test_parquet_scores_in_the_other_column_layouts(tmp_path, scores, expected):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    image = png_bytes((255, 0, 0))
    images = {key: [image] for key in ("source_img", "left_output_image", "right_output_image")}
    pq.write_table(pa.table({"instruction": ["x"], **images, **scores}), tmp_path / "pairs.parquet")
    (pair,) = read_pairs(tmp_path / "pairs.parquet")
    assert (pair.following, pair.quality, pair.overall) == expected


def test_a_parquet_without_the_image_columns_is_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"instruction": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(PairDataError, match="row 0: no 'source_img' column"):
        read_pairs(tmp_path / "p.parquet")
