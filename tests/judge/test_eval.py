"""`rewardedit eval` end to end: tiny checkpoint, a generated benchmark, the loopback judge."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from judge import InputFileError
from judge.benchmark import read_benchmark
from model import RewardEditPipeline

from .chat_server import Reply, judgement_reply
from .helpers import rewardedit, same_pixels

# id, category, instruction, and the judge's (verdict, score) for following / preserving / quality.
ITEMS = [
    ("cup", "local", "make the square red", [(True, 5), (True, 4), (False, 3)]),
    ("gone", "remove", "remove the square", [(False, 2), (True, 5), (True, 4)]),
    ("paint", "style", "make it a watercolour", [(True, 4), (False, 1), (True, 5)]),
    ("pixel", "style", "make it pixel art", [(False, 1), (False, 3), (True, 4)]),
    ("night", "global", "make it night", None),  # the judge never answers this one readably
]
PERSPECTIVE_INDEX = {"following": 0, "preserving": 1, "quality": 2}


@pytest.fixture
def one_torch_thread():
    """On 2 busy shared cores, tiny-model edits run ~100x slower with 2 torch threads than with 1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def answer(request) -> Reply:
    scripted = next(item[3] for item in ITEMS if item[2] == request.instruction)
    if scripted is None:
        return Reply("The images did not load, sorry.")
    verdict, score = scripted[PERSPECTIVE_INDEX[request.perspective]]
    return Reply(judgement_reply(verdict, score, "None" if verdict else "not quite", style="fenced"))


def write_benchmark(folder, source_image: Image.Image) -> None:
    (folder / "photos").mkdir(parents=True)
    entries = []
    for n, (item_id, category, instruction, _) in enumerate(ITEMS):
        Image.fromarray(np.roll(np.asarray(source_image), 9 * n, axis=1)).save(
            folder / "photos" / f"{item_id}.png"
        )
        entries.append(
            {
                "id": item_id,
                "image": f"photos/{item_id}.png",
                "instruction": instruction,
                "category": category,
            }
        )
    (folder / "benchmark.json").write_text(json.dumps(entries, indent=1))


def test_eval_edits_judges_and_tabulates_per_category(
    chat_server, tmp_path, tiny_checkpoint, source_image, capsys
):
    server = chat_server(answer)
    write_benchmark(tmp_path / "bench", source_image)
    out = tmp_path / "results"

    code = rewardedit(
        "eval", "--model", tiny_checkpoint, "--benchmark", tmp_path / "bench", "--out", out,
        "--judge", "openai", "--base-url", server.base_url, "--judge-model", "test-vlm",
        "--cache-dir", tmp_path / "cache", "--steps", "2", "--seed", "3", "--device", "cpu",
        "--scheduler", "dpmpp_2m",
    )  # fmt: skip
    assert code == 1  # one item could not be judged; everything else is still reported
    expected = RewardEditPipeline.from_pretrained(tiny_checkpoint)(
        image=Image.open(tmp_path / "bench" / "photos" / "cup.png"),
        instruction="make the square red",
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(3),
        scheduler="dpmpp_2m",
    )
    assert same_pixels(Image.open(out / "images" / "cup.png"), expected.images[0])

    for item_id, *_ in ITEMS:
        edited = Image.open(out / "images" / f"{item_id}.png")
        assert edited.size == (64, 64)
        sent = [r for r in server.requests if r.instruction == next(i[2] for i in ITEMS if i[0] == item_id)]
        assert len(sent) >= 3
        for request in sent:  # the judge saw the benchmark image and exactly the edit written to disk
            assert same_pixels(
                request.images[0], Image.open(tmp_path / "bench" / "photos" / f"{item_id}.png")
            )
            assert same_pixels(request.images[1], edited)

    lines = [json.loads(line) for line in (out / "judgements.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == [item[0] for item in ITEMS]
    assert lines[0]["judgements"]["quality"] == {"verdict": False, "score": 3.0, "text": "not quite"}
    assert lines[0]["edited"] == "images/cup.png" and lines[0]["image"] == "photos/cup.png"
    assert "following judgement: no JSON object with a score found" in lines[4]["error"]

    results = json.loads((out / "results.json").read_text())
    table = results["table"]
    assert list(table) == ["local", "remove", "style", "all"]  # Real-Edit order; unjudged "global" absent
    assert table["style"] == {
        "count": 2,
        "following": {"accuracy": 0.5, "mean_score": 2.5},
        "preserving": {"accuracy": 0.0, "mean_score": 2.0},
        "quality": {"accuracy": 1.0, "mean_score": 4.5},
    }
    assert table["all"]["count"] == 4
    assert table["all"]["following"] == {"accuracy": 0.5, "mean_score": 3.0}
    assert table["all"]["quality"] == {"accuracy": 0.75, "mean_score": 4.0}
    assert results["failed"] == 1 and results["settings"]["steps"] == 2 and results["settings"]["seed"] == 3
    assert results["judge"]["model"] == "test-vlm" and results["settings"]["scheduler"] == "dpmpp_2m"
    # Guidance was not set: the report says what ran, the checkpoint's defaults.
    assert (results["settings"]["guidance_scale"], results["settings"]["image_guidance_scale"]) == (7.5, 1.5)

    markdown = (out / "results.md").read_text()
    assert "| style | 2 | 50.0% | 2.50 | 0.0% | 2.00 | 100.0% | 4.50 |" in markdown
    assert "| **all** | 4 | 50.0% | 3.00 | 50.0% | 3.25 | 75.0% | 4.00 |" in markdown
    assert "1 of 5 items could not be judged" in markdown
    assert markdown in capsys.readouterr().out


def test_benchmark_problems_are_all_named_before_anything_runs(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    entries = [
        {"id": "ok", "image": "a.png", "instruction": "x", "category": "local"},
        {"id": "ok", "image": "a.png", "instruction": "x", "category": "local"},
        {"id": "../up", "image": "a.png", "instruction": "x", "category": "local"},
        {"id": "b", "image": "missing.png", "instruction": "x", "category": "add"},
        {"id": "c", "image": "a.png", "instruction": "", "category": "add"},
        {"id": "d", "image": "a.png", "instruction": "x", "category": "all"},
    ]
    (tmp_path / "benchmark.json").write_text(json.dumps(entries))
    with pytest.raises(InputFileError) as caught:
        read_benchmark(tmp_path)
    message = str(caught.value)
    assert "5 invalid item(s)" in message
    for expected in (
        "item 1: id 'ok' is used twice",
        "item 2: id '../up'",
        "item 3: image 'missing.png' not found",
        "item 4: 'instruction' must be a non-empty string",
        "item 5: category 'all' is reserved",
    ):
        assert expected in message


def test_eval_reports_a_missing_benchmark_as_a_usage_error(tmp_path, tiny_checkpoint, capsys):
    code = rewardedit(
        "eval", "--model", tiny_checkpoint, "--benchmark", tmp_path, "--out", tmp_path / "out",
        "--base-url", "http://127.0.0.1:9/v1", "--judge-model", "m", "--no-cache",
    )  # fmt: skip
    assert code == 2
    assert "cannot read benchmark" in capsys.readouterr().err
