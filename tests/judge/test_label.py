"""`rewardedit label` end to end against the loopback chat-completions server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from judge import PERSPECTIVES, Judge, Judgement, registry
from training.manifest import read_manifest

from .chat_server import STYLES, Reply, judgement_reply
from .helpers import rewardedit

INSTRUCTIONS = ("make the sky purple", "remove the car", "add a hat", "turn it into a watercolour")


def expected(instruction: str, perspective: str) -> Judgement:
    """Scores 0-5 spread over items and perspectives, so every row and column of the summary differs."""
    score = float((INSTRUCTIONS.index(instruction) + PERSPECTIVES.index(perspective)) % 6)
    return Judgement(score >= 4, score, "None" if score == 5 else f"{perspective} problem: {instruction}")


def answer(request) -> Reply:
    """The expected judgement, written in a different style for each item and perspective."""
    j = expected(request.instruction, request.perspective)
    style = STYLES[(INSTRUCTIONS.index(request.instruction) + PERSPECTIVES.index(request.perspective)) % 4]
    return Reply(judgement_reply(j.verdict, j.score, j.text, style))


STALE = {p: {"score": 1.0, "text": "an older judge's opinion"} for p in PERSPECTIVES}


def write_input_manifest(folder: Path) -> Path:
    """Four lines, the first still carrying a label from another judge, which `label` must replace."""
    (folder / "img").mkdir(parents=True)
    lines = []
    for i, instruction in enumerate(INSTRUCTIONS):
        for kind in ("source", "edited"):
            pixels = np.full((64, 64, 3), 40 * i + (100 if kind == "edited" else 0), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "img" / f"{i}-{kind}.png")
        lines.append(
            {
                "id": f"s{i}",
                "source": f"img/{i}-source.png",
                "edited": f"img/{i}-edited.png",
                "instruction": instruction,
            }
        )
    lines[0]["rewards"] = STALE
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def label(manifest, out, server, *extra: str) -> int:
    return rewardedit(
        "label", manifest, "--out", out, "--judge", "openai", "--base-url", server.base_url,
        "--judge-model", "test-vlm", *extra,
    )  # fmt: skip


def rewards_of(path) -> dict[str, dict]:
    return {
        row.id: {p: (getattr(row.rewards, p), getattr(row.rewards, f"{p}_text")) for p in PERSPECTIVES}
        for row in read_manifest(path)
        if row.rewards is not None
    }


def all_expected(instructions=INSTRUCTIONS) -> dict[str, dict]:
    return {
        f"s{INSTRUCTIONS.index(i)}": {p: (expected(i, p).score, expected(i, p).text) for p in PERSPECTIVES}
        for i in instructions
    }


def test_labels_every_line_from_replies_in_every_style(chat_server, tmp_path, capsys):
    server = chat_server(answer)
    manifest = write_input_manifest(tmp_path / "data")
    out = tmp_path / "labelled" / "out.jsonl"

    assert label(manifest, out, server, "--cache-dir", tmp_path / "cache") == 0

    assert len(server.requests) == 4 * 3
    assert rewards_of(out) == all_expected()
    first = json.loads(out.read_text().splitlines()[0])
    assert first["source"] == "../data/img/0-source.png"  # paths follow the output manifest's folder
    assert first["rewards"]["following"] == {"score": 0.0, "text": "following problem: make the sky purple"}
    printed = capsys.readouterr().out.splitlines()
    assert "score distribution over 4 labelled lines" in printed
    # following scores are 0, 1, 2, 3; quality scores 2, 3, 4, 5.
    assert "following 1 1 1 1 0 0 1.50 100%".split() in [line.split() for line in printed]
    assert "quality 0 0 1 1 1 1 3.50 75%".split() in [line.split() for line in printed]

    before = out.read_text()
    assert label(out, out, server, "--no-cache") == 0  # in place: everything is already labelled
    assert len(server.requests) == 12
    assert out.read_text() == before
    assert "0 lines labelled now, 4 kept from before" in capsys.readouterr().out


def test_unreadable_replies_leave_lines_unlabelled_until_a_rerun(chat_server, tmp_path, capsys):
    broken = {"add a hat"}
    server = chat_server(
        lambda r: Reply("Sorry, I can't help with that.") if r.instruction in broken else answer(r)
    )
    manifest = write_input_manifest(tmp_path)
    out = tmp_path / "out.jsonl"

    assert label(manifest, out, server, "--no-cache") == 1
    assert "1 lines could not be labelled" in capsys.readouterr().out
    assert rewards_of(out) == all_expected([i for i in INSTRUCTIONS if i not in broken])
    assert len(read_manifest(out)) == 4  # the unlabelled line is kept, to be labelled later

    broken.clear()
    assert label(manifest, out, server, "--no-cache") == 0
    assert len(server.requests) == 12 + 3  # only the missing line was asked again (no cache involved)
    assert rewards_of(out) == all_expected()


def test_a_failing_endpoint_stops_the_run_and_a_rerun_resumes_it(chat_server, tmp_path, capsys):
    down = [True]
    server = chat_server(
        lambda r: Reply(status=401, body="bad key") if down[0] and r.instruction == "add a hat" else answer(r)
    )
    manifest = write_input_manifest(tmp_path)
    out = tmp_path / "out.jsonl"

    assert label(manifest, out, server, "--no-cache", "--concurrency", "1") == 2
    error = capsys.readouterr().err
    assert "HTTP 401" in error and "rerun to resume" in error
    # One at a time, in manifest order: the two lines before the failing one were saved.
    assert rewards_of(out) == all_expected(INSTRUCTIONS[:2])

    down[0] = False
    asked_before = len(server.requests)
    assert label(manifest, out, server, "--no-cache") == 0
    assert {r.instruction for r in server.requests[asked_before:]} == set(INSTRUCTIONS[2:])
    assert rewards_of(out) == all_expected()


class ConstantJudge(Judge):
    """A backend with no network at all, to show what plugs into the registry (as the oracle will)."""

    async def judge(self, source, edited, instruction):
        return {p: Judgement(True, 5.0) for p in PERSPECTIVES}


def test_any_registered_backend_can_label(tmp_path, monkeypatch):
    monkeypatch.setitem(registry._FACTORIES, "constant", lambda options: ConstantJudge())
    manifest = write_input_manifest(tmp_path)
    assert rewardedit("label", manifest, "--out", tmp_path / "out.jsonl", "--judge", "constant") == 0
    assert {row.rewards.scores for row in read_manifest(tmp_path / "out.jsonl")} == {(5.0, 5.0, 5.0)}
