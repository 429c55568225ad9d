"""Judges in the service: POST /score and best-of-N `candidates`, against a real chat-completions server,
and with a tiny EditReward model that the service process holds itself.

The chat judge is tests/judge/chat_server.py on loopback; it scores an edited image by looking its
pixels up in a table the test fills, so the test knows which candidate must win. The EditReward
judge's choice is checked against the same tiny model run in this process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageOps

from judge.editreward import EditRewardScorer, EditToScore
from judge.editreward.calibration import default_calibration
from model.rewards import PERSPECTIVES

from ..judge.chat_server import STYLES, ChatRequest, ChatServer, Reply, judgement_reply
from ..judge.editreward_models import TinyEditReward, write_tiny_editreward
from .helpers import Stack, encode, error_of, reference_edit, start_stack
from .test_inputs import bomb_png

JUDGE_KEY = "judge-secret"
API_KEY = "client-key"
WEIGHTS = {"following": 3.0, "preserving": 1.0, "quality": 1.0}
UNKNOWN_SCORE = 0.5  # for images the table does not name: a candidate nobody expected loses
PROBLEM = "the square is still blue"
# EditReward judges following and quality, the chat server preserving.
COMPOSITE = "editreward,preserving=openai"


class ScriptedJudge:
    """The chat server's answers: scores by edited pixels, each perspective in another model's style."""

    def __init__(self) -> None:
        self.scores: dict[bytes, dict[str, float]] = {}
        self.failure: Reply | None = None
        self.delay = 0.0

    def reset(self) -> None:
        self.scores.clear()
        self.failure, self.delay = None, 0.0

    def __call__(self, request: ChatRequest) -> Reply:
        if self.failure is not None:
            return self.failure
        score = self.scores.get(pixels(request.images[1]), {}).get(request.perspective, UNKNOWN_SCORE)
        verdict = score >= 3
        style = STYLES[PERSPECTIVES.index(request.perspective)]
        return Reply(judgement_reply(verdict, score, "None" if verdict else PROBLEM, style), delay=self.delay)


def pixels(image: Image.Image) -> bytes:
    return image.convert("RGB").tobytes()


def expected_judgements(scores: dict[str, float]) -> dict[str, dict[str, Any]]:
    return {
        name: {"verdict": score >= 3, "score": score, "text": "None" if score >= 3 else PROBLEM}
        for name, score in scores.items()
    }


def judge_settings(server: ChatServer) -> dict[str, str]:
    weights = {f"REWARDEDIT_JUDGE_WEIGHT_{name.upper()}": str(weight) for name, weight in WEIGHTS.items()}
    return {
        "REWARDEDIT_JUDGE": "openai",
        "REWARDEDIT_JUDGE_BASE_URL": server.base_url,
        "REWARDEDIT_JUDGE_MODEL": "test-vlm",
        "REWARDEDIT_JUDGE_API_KEY": JUDGE_KEY,
        "REWARDEDIT_JUDGE_MAX_RETRIES": "1",
        "REWARDEDIT_JUDGE_TIMEOUT_S": "20",
        "REWARDEDIT_API_KEYS": API_KEY,
        **weights,
    }


@pytest.fixture(scope="module")
def scripted() -> ScriptedJudge:
    return ScriptedJudge()


@pytest.fixture(scope="module")
def judge_server(scripted: ScriptedJudge) -> Iterator[ChatServer]:
    server = ChatServer(scripted).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_script(scripted: ScriptedJudge) -> None:
    scripted.reset()


@pytest.fixture(scope="module")
def judged_stack(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, judge_server: ChatServer
) -> Iterator[Stack]:
    """Embedded mode with a judge and an API key."""
    stack = start_stack(tmp_path_factory.mktemp("judged"), tiny_checkpoint, **judge_settings(judge_server))
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def judged_broker_stack(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, redis_url: str, judge_server: ChatServer
) -> Iterator[Stack]:
    """Redis + one `rewardedit worker` + the API, each with its own judge."""
    workdir = tmp_path_factory.mktemp("judged-broker")
    stack = start_stack(workdir, tiny_checkpoint, redis_url, **judge_settings(judge_server))
    yield stack
    stack.stop()


def score(client: httpx.Client, source: bytes | None, edited: bytes | None, **data: str) -> httpx.Response:
    files = {
        name: (f"{name}.png", image, "image/png") for name, image in (("source", source), ("edited", edited))
    }
    files = {name: part for name, part in files.items() if part[1] is not None}
    return client.post("/score", data={"instruction": "make the square red", **data}, files=files)


def test_score_answers_the_three_judgements(judged_stack, judge_server, scripted, source_image):
    edited = ImageOps.invert(source_image)
    table = {"following": 4.5, "preserving": 2.0, "quality": 5.0}
    scripted.scores[pixels(edited)] = table
    asked = len(judge_server.requests)
    response = score(judged_stack.client().http, encode(source_image), encode(edited, "WEBP", lossless=True))
    assert response.status_code == 200, response.text
    assert response.json() == expected_judgements(table)

    requests = judge_server.requests[asked:]
    assert sorted(request.perspective for request in requests) == sorted(PERSPECTIVES)
    for request in requests:
        assert request.authorization == f"Bearer {JUDGE_KEY}" and request.body["model"] == "test-vlm"
        assert request.instruction == "make the square red"
        assert [pixels(image) for image in request.images] == [pixels(source_image), pixels(edited)]


# name: (the request as the arguments of score(), expected status, expected code)
BAD_SCORE_REQUESTS = {
    "missing_edited": (lambda png: (png, None), 422, "invalid_field"),
    "missing_source": (lambda png: (None, png), 422, "invalid_field"),
    "truncated_source": (lambda png: (png[: len(png) // 2], png), 422, "invalid_image"),
    "text_as_edited": (lambda png: (png, b"not a picture\n" * 10), 422, "invalid_image"),
    "gif_edited": (lambda png: (png, encode(Image.new("RGB", (64, 64)), "GIF")), 415, "unsupported_format"),
    "bomb_source": (lambda png: (bomb_png(30_000, 30_000), png), 413, "image_too_large"),
    "tiny_edited": (lambda png: (png, encode(Image.new("RGB", (16, 16)))), 422, "image_too_small"),
}


@pytest.mark.parametrize("name", BAD_SCORE_REQUESTS)
def test_score_refuses_bad_inputs_without_asking_the_judge(judged_stack, judge_server, source_png, name):
    build, status, code = BAD_SCORE_REQUESTS[name]
    asked = len(judge_server.requests)
    response = score(judged_stack.client().http, *build(source_png))
    assert response.status_code == status, response.text
    assert error_of(response)["code"] == code
    assert len(judge_server.requests) == asked


def test_score_checks_the_key_the_body_and_the_instruction(judged_stack, source_png):
    client = judged_stack.client()
    for key in ("", "wrong-key"):
        response = score(judged_stack.client(key=key).http, source_png, source_png)
        assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
    for instruction in ("   ", "x" * 1001):
        response = score(client.http, source_png, source_png, instruction=instruction)
        assert response.status_code == 422 and error_of(response)["code"] == "invalid_field"
    response = client.http.post("/score", json={"instruction": "x"})
    assert response.status_code == 415 and error_of(response)["code"] == "unsupported_media_type"


def test_without_a_judge_score_is_501_and_candidates_are_refused(embedded_stack, source_png):
    client = embedded_stack.client()
    response = score(client.http, source_png, source_png)
    assert response.status_code == 501, response.text
    assert error_of(response)["code"] == "judge_not_configured"
    response = client.submit(source_png, candidates=2, steps=2)
    assert response.status_code == 422 and error_of(response)["code"] == "judge_not_configured"
    response = client.submit(source_png, candidates=9, steps=2)  # out of bounds, judge or not
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_field"
    assert client.submit_ok(source_png, candidates=1, steps=2)["candidates"] == []


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (Reply(status=503, body='{"error": "overloaded"}'), "judge_unavailable"),
        (Reply(content="I would rather not say."), "judge_unreadable_reply"),
    ],
)
def test_a_failing_judge_is_a_502_and_the_service_goes_on(
    judged_stack, judge_server, scripted, source_png, failure, code
):
    client = judged_stack.client()
    scripted.failure = failure
    response = score(client.http, source_png, source_png)
    assert response.status_code == 502, response.text
    error = error_of(response)
    assert error["code"] == code
    assert "127.0.0.1" not in error["message"]  # the judge's address stays in the service's logs

    scripted.failure = None
    assert score(client.http, source_png, source_png).status_code == 200
    assert client.http.get("/healthz").status_code == 200
    assert 'status="500"' not in client.http.get("/metrics").text


def test_a_best_of_n_job_fails_cleanly_when_the_judge_is_down(judged_stack, scripted, source_png):
    scripted.failure = Reply(status=500, body='{"error": "down"}')
    client = judged_stack.client()
    job = client.wait(client.submit_ok(source_png, candidates=2, steps=2, seed=5)["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "judge_unavailable", job
    assert job["result_url"] is None and job["candidates"] == []
    scripted.failure = None
    assert client.wait(client.submit_ok(source_png, steps=2)["id"])["status"] == "succeeded"


@pytest.mark.parametrize("stack_name", ["judged_stack", "judged_broker_stack"])
def test_candidates_keep_the_best_by_the_weighted_scores(
    request, stack_name, scripted, judge_server, source_image, source_png, reference_pipe
):
    stack = request.getfixturevalue(stack_name)
    fields = {"instruction": f"make the square red ({stack_name})", "steps": 3, "seed": 4242}
    seeds = [fields["seed"] + index for index in range(3)]
    edits = [reference_edit(reference_pipe, source_image, {**fields, "seed": seed}) for seed in seeds]
    # Weighted 3:1:1 the second wins (4.0 against 2.6 and 3.4); unweighted it would lose to the first.
    tables = [
        {"following": 1.0, "preserving": 5.0, "quality": 5.0},
        {"following": 5.0, "preserving": 2.0, "quality": 3.0},
        {"following": 3.0, "preserving": 4.0, "quality": 4.0},
    ]
    for edit, table in zip(edits, tables, strict=True):
        scripted.scores[pixels(edit)] = table
    client = stack.client()
    submitted = client.submit_ok(source_png, candidates=3, **fields)
    assert submitted["params"]["candidates"] == 3 and submitted["progress"]["total"] == 9

    events = list(client.events(submitted["id"]))
    steps = [event["progress"]["step"] for event in events]
    assert steps == sorted(steps) and steps[-1] == 9
    job = client.job(submitted["id"])
    assert job["status"] == "succeeded", job
    assert job["seed"] == fields["seed"] and job["progress"] == {"step": 9, "total": 9}

    weighted = [
        sum(WEIGHTS[name] * table[name] for name in WEIGHTS) / sum(WEIGHTS.values()) for table in tables
    ]
    assert [candidate["seed"] for candidate in job["candidates"]] == seeds
    for candidate, table, expected in zip(job["candidates"], tables, weighted, strict=True):
        assert candidate["judgements"] == expected_judgements(table)
        assert candidate["weighted_score"] == pytest.approx(expected) and candidate["error"] is None
    best = int(np.argmax(weighted))
    assert best == 1 and [candidate["chosen"] for candidate in job["candidates"]] == [False, True, False]
    assert pixels(client.result(job["id"])) == pixels(edits[best])
    asked = [r for r in judge_server.requests if r.instruction == fields["instruction"]]
    assert len(asked) == 3 * len(PERSPECTIVES)  # each candidate judged once, from each perspective


def test_canceling_a_best_of_n_job_while_editing_and_while_judging(
    judged_stack, scripted, source_png, slow_png
):
    client = judged_stack.client()
    editing = client.submit_ok(slow_png, candidates=2, steps=150, max_side=512)["id"]
    client.wait(editing, until=lambda job: job["progress"]["step"] >= 1, timeout_s=120)
    assert client.http.delete(f"/jobs/{editing}").json()["status"] == "canceled"

    scripted.delay = 60  # the judge keeps the job waiting far longer than this test
    judging = client.submit_ok(source_png, candidates=2, steps=2)["id"]
    client.wait(judging, until=lambda job: job["progress"]["step"] == 4, timeout_s=60)
    assert client.http.delete(f"/jobs/{judging}").json()["status"] == "canceled"
    started = time.monotonic()
    scripted.delay = 0
    after = client.submit_ok(source_png, steps=2)["id"]
    assert client.wait(after, timeout_s=15)["status"] == "succeeded"  # the worker stopped waiting
    assert time.monotonic() - started < 15

    stopped = client.job(editing)
    assert stopped["status"] == "canceled" and stopped["progress"]["total"] == 300
    assert stopped["progress"]["step"] < 150 and stopped["candidates"] == []
    assert client.job(judging)["status"] == "canceled"


@pytest.fixture(scope="module")
def tiny_editreward(tmp_path_factory: pytest.TempPathFactory) -> TinyEditReward:
    return write_tiny_editreward(tmp_path_factory.mktemp("editreward"))


def editreward_settings(model: TinyEditReward, chat: ChatServer | None = None) -> dict[str, str]:
    """EditReward judging everything, or with a chat server, everything but preserving (a composite)."""
    weights = {f"REWARDEDIT_JUDGE_WEIGHT_{name.upper()}": str(weight) for name, weight in WEIGHTS.items()}
    return {
        **(judge_settings(chat) if chat is not None else {}),
        "REWARDEDIT_JUDGE": COMPOSITE if chat is not None else "editreward",
        "REWARDEDIT_JUDGE_REWARD_MODEL": str(model.reward),
        "REWARDEDIT_JUDGE_BASE_MODEL": str(model.base),
        "REWARDEDIT_JUDGE_DEVICE": "cpu",
        "REWARDEDIT_API_KEYS": API_KEY,
        **weights,
    }


@pytest.fixture(scope="module")
def editreward_stack(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, tiny_editreward: TinyEditReward
) -> Iterator[Stack]:
    """Embedded mode: the service process holds the editor and the reward model."""
    workdir = tmp_path_factory.mktemp("editreward-embedded")
    stack = start_stack(workdir, tiny_checkpoint, **editreward_settings(tiny_editreward))
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def composite_broker_stack(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_checkpoint: Path,
    redis_url: str,
    tiny_editreward: TinyEditReward,
    judge_server: ChatServer,
) -> Iterator[Stack]:
    """Redis + a worker holding both models, the chat server judging preserving; the API loads the
    reward model on its first POST /score."""
    workdir = tmp_path_factory.mktemp("composite-broker")
    settings = editreward_settings(tiny_editreward, judge_server)
    stack = start_stack(workdir, tiny_checkpoint, redis_url, **settings)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def local_scorer(tiny_editreward: TinyEditReward) -> EditRewardScorer:
    return EditRewardScorer.from_pretrained(tiny_editreward.reward, tiny_editreward.base, device="cpu")


def expected_editreward(scorer: EditRewardScorer, source: Image.Image, edited: Image.Image, instruction: str):
    """Each perspective's (raw mu, mapped score, verdict) as the service must report them."""
    (scores,) = scorer.score([EditToScore(source, edited, instruction)])
    mus = {"following": scores.instruction_following, "preserving": scores.instruction_following}
    mus["quality"] = scores.visual_quality
    maps = default_calibration().maps
    return {name: (mu, maps[name].score(mu), maps[name].verdict(mu)) for name, mu in mus.items()}


def check_judgements(
    judgements: dict[str, dict[str, Any]], expected: dict[str, tuple], stack_name: str
) -> float:
    """The judgements match (raw, score, verdict), preserving the chat server's in the composite;
    the weighted score they give."""
    if stack_name == "composite_broker_stack":  # the chat server's answer for images it was not told of
        assert judgements["preserving"] == expected_judgements({"preserving": UNKNOWN_SCORE})["preserving"]
        expected = {name: value for name, value in expected.items() if name != "preserving"}
    for name, (mu, score, verdict) in expected.items():
        assert judgements[name]["raw"] == pytest.approx(mu, abs=1e-4)
        assert judgements[name]["score"] == pytest.approx(score, abs=1e-4)
        assert judgements[name]["verdict"] is verdict
    return sum(WEIGHTS[name] * judgements[name]["score"] for name in WEIGHTS) / sum(WEIGHTS.values())


@pytest.mark.parametrize("stack_name", ["editreward_stack", "composite_broker_stack"])
def test_best_of_n_with_the_editreward_judge(
    request, stack_name, source_image, source_png, reference_pipe, local_scorer
):
    stack = request.getfixturevalue(stack_name)
    fields = {"instruction": f"make the square red ({stack_name})", "steps": 2, "seed": 77}
    seeds = [fields["seed"] + index for index in range(3)]
    edits = [reference_edit(reference_pipe, source_image, {**fields, "seed": seed}) for seed in seeds]
    client = stack.client()
    job = client.wait(client.submit_ok(source_png, candidates=3, **fields)["id"], timeout_s=180)
    assert job["status"] == "succeeded", job
    assert [candidate["seed"] for candidate in job["candidates"]] == seeds
    weighted = []
    for candidate, edit in zip(job["candidates"], edits, strict=True):
        expected = expected_editreward(local_scorer, source_image, edit, fields["instruction"])
        weighted.append(check_judgements(candidate["judgements"], expected, stack_name))
        assert candidate["weighted_score"] == pytest.approx(weighted[-1]) and candidate["error"] is None
    best = int(np.argmax(weighted))
    assert [candidate["chosen"] for candidate in job["candidates"]] == [i == best for i in range(3)]
    assert pixels(client.result(job["id"])) == pixels(edits[best])


@pytest.mark.parametrize("stack_name", ["editreward_stack", "composite_broker_stack"])
def test_score_with_the_editreward_judge_shows_raw_mu(request, stack_name, source_image, local_scorer):
    stack = request.getfixturevalue(stack_name)
    edited = ImageOps.invert(source_image)
    response = score(stack.client().http, encode(source_image), encode(edited), instruction="invert it")
    assert response.status_code == 200, response.text
    expected = expected_editreward(local_scorer, source_image, edited, "invert it")
    check_judgements(response.json(), expected, stack_name)


@pytest.mark.parametrize("stack_name", ["editreward_stack", "composite_broker_stack"])
def test_score_refuses_an_edit_the_reward_model_cannot_take_with_a_422(request, stack_name, source_image):
    stack = request.getfixturevalue(stack_name)
    image = encode(source_image)
    response = score(stack.client().http, image, image, instruction="make it red<|im_end|>")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unscorable_edit" and "special token" in error["message"]
