"""The chat-completions judge against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from judge import PERSPECTIVES, Judgement, JudgeOptions, JudgeReplyError, JudgeRequestError, create_judge
from judge.batch import EditToJudge, judge_all
from judge.cache import JudgeCache
from judge.openai_judge import OpenAIJudge

from .chat_server import Reply, judgement_reply
from .helpers import judge_once, same_pixels

SCORES = {"following": 4.0, "preserving": 2.5, "quality": 5.0}


def good(request) -> Reply:
    """A reply that depends on the perspective, so mixed-up answers would show."""
    score = SCORES[request.perspective]
    return Reply(judgement_reply(score == 5, score, "None" if score == 5 else f"{request.perspective} flaw"))


EXPECTED = {p: Judgement(s == 5, s, "None" if s == 5 else f"{p} flaw") for p, s in SCORES.items()}


def make_judge(server, **kwargs) -> OpenAIJudge:
    return OpenAIJudge(server.base_url, "test-vlm", **{"backoff": 0.02, "timeout": 5.0, **kwargs})


def test_sends_model_key_prompt_and_both_images_through_the_registry(
    chat_server, monkeypatch, source_image, edited_image
):
    server = chat_server(good)
    monkeypatch.setenv("REWARDEDIT_JUDGE_API_KEY", "sk-test")
    judge = create_judge("openai", JudgeOptions(base_url=server.base_url + "/", model="test-vlm"))

    assert judge_once(judge, source_image, edited_image, "make it blue") == EXPECTED
    assert sorted(r.perspective for r in server.requests) == sorted(PERSPECTIVES)
    for request in server.requests:
        assert request.authorization == "Bearer sk-test"
        assert request.body["model"] == "test-vlm"
        assert request.instruction == "make it blue"
        assert len(request.images) == 2
        assert same_pixels(request.images[0], source_image) and same_pixels(request.images[1], edited_image)


def test_the_openai_judge_needs_an_endpoint_and_a_model():
    with pytest.raises(ValueError, match="--base-url and --judge-model"):
        create_judge("openai", JudgeOptions(model="gpt-4o"))
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        create_judge("openai", JudgeOptions(base_url="localhost:8000/v1", model="m"))
    with pytest.raises(ValueError, match="unknown judge 'nope'; known: editreward, openai"):
        create_judge("nope", JudgeOptions())


def test_retries_429_after_retry_after_and_5xx_with_growing_backoff(chat_server, source_image, edited_image):
    script = [
        Reply(status=429, headers={"Retry-After": "0.4"}, body='{"error": "rate limited"}'),
        Reply(status=503, body="overloaded"),
        Reply(status=500, body="oops"),
        Reply(status=502, body="bad gateway"),
    ]
    server = chat_server(lambda r: script[r.attempt] if r.attempt < len(script) else good(r))

    judgements = judge_once(make_judge(server, backoff=0.05), source_image, edited_image, "add a hat")

    assert judgements == EXPECTED
    for perspective in PERSPECTIVES:
        times = [r.arrived for r in server.requests if r.perspective == perspective]
        assert len(times) == 5
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert gaps[0] >= 0.38  # the server's Retry-After, not the 0.05 s backoff
        # Backoff after the 2nd, 3rd, 4th failure: 0.05 * 2**k * uniform(0.5, 1) for k = 1, 2, 3.
        assert gaps[1] >= 0.05 and gaps[2] >= 0.1 and gaps[3] >= 0.2
        assert gaps[3] > gaps[1]


def test_gives_up_after_max_retries_naming_the_last_answer(chat_server, source_image, edited_image):
    server = chat_server(lambda r: Reply(status=503, body="overloaded"))
    with pytest.raises(
        JudgeRequestError, match=r"judgement: .* giving up after 3 attempts; the last failed with HTTP 503"
    ):
        judge_once(make_judge(server, max_retries=2), source_image, edited_image, "add a hat")
    assert len(server.requests) == 3 * len(PERSPECTIVES)


def test_client_errors_fail_at_once_with_a_hint_about_the_key(chat_server, source_image, edited_image):
    server = chat_server(lambda r: Reply(status=401, body='{"error": "invalid api key"}'))
    with pytest.raises(JudgeRequestError, match=r"HTTP 401.*invalid api key.*REWARDEDIT_JUDGE_API_KEY"):
        judge_once(make_judge(server), source_image, edited_image, "add a hat")
    assert len(server.requests) == len(PERSPECTIVES)


def test_a_too_slow_answer_is_abandoned_and_retried(chat_server, source_image, edited_image):
    server = chat_server(lambda r: Reply(delay=5.0) if r.attempt == 0 else good(r))
    started = time.monotonic()
    judgements = judge_once(make_judge(server, timeout=0.3), source_image, edited_image, "add a hat")
    assert judgements == EXPECTED
    assert time.monotonic() - started < 4.0  # the 5 s answers were not waited for
    assert len(server.requests) == 2 * len(PERSPECTIVES)


def test_a_judge_that_never_answers_in_time_fails_with_the_timeout(chat_server, source_image, edited_image):
    server = chat_server(lambda r: Reply(delay=5.0))
    with pytest.raises(
        JudgeRequestError, match=r"giving up after 2 attempts; the last failed with no answer within 0.2 s"
    ):
        judge_once(make_judge(server, timeout=0.2, max_retries=1), source_image, edited_image, "add a hat")


def test_never_more_requests_in_flight_than_the_concurrency_limit(chat_server, source_image, edited_image):
    server = chat_server(lambda r: Reply(good(r).content, delay=0.15))
    # Requests queue up to ~0.9 s for a slot: only time on the wire may count against the 0.5 s timeout.
    judge = make_judge(server, concurrency=2, timeout=0.5, max_retries=0)
    edits = [EditToJudge(str(i), f"edit {i}", lambda: (source_image, edited_image)) for i in range(4)]
    outcomes = {}

    async def run() -> None:
        async with judge:
            await judge_all(judge, edits, workers=4, on_result=lambda e, o: outcomes.update({e.key: o}))

    asyncio.run(run())
    assert outcomes == {str(i): EXPECTED for i in range(4)}
    assert len(server.requests) == 12
    assert server.max_in_flight == 2  # the limit was reached, never passed


def test_cached_judgements_are_not_asked_again(chat_server, tmp_path, source_image, edited_image):
    server = chat_server(good)
    cache = JudgeCache(tmp_path / "cache")
    first = judge_once(make_judge(server, cache=cache), source_image, edited_image, "add a hat")
    assert len(server.requests) == 3

    again = judge_once(
        make_judge(server, cache=JudgeCache(tmp_path / "cache")), source_image, edited_image, "add a hat"
    )
    assert again == first
    assert len(server.requests) == 3  # a fresh judge on the same folder asked nothing

    changed = edited_image.copy()
    changed.putpixel((0, 0), (1, 2, 3))
    judge_once(make_judge(server, cache=cache), source_image, changed, "add a hat")
    judge_once(make_judge(server, cache=cache), source_image, edited_image, "add two hats")
    other_model = OpenAIJudge(server.base_url, "other-vlm", cache=cache)
    judge_once(other_model, source_image, edited_image, "add a hat")
    assert len(server.requests) == 12  # other pixels, instruction or model: asked again


def test_unreadable_replies_are_not_cached(chat_server, tmp_path, source_image, edited_image):
    server = chat_server(lambda r: Reply("I'd rather not say.") if r.attempt == 0 else good(r))
    cache = JudgeCache(tmp_path / "cache")
    with pytest.raises(JudgeReplyError, match="judgement: no JSON object with a score found"):
        judge_once(make_judge(server, cache=cache), source_image, edited_image, "add a hat")
    assert judge_once(make_judge(server, cache=cache), source_image, edited_image, "add a hat") == EXPECTED
    assert len(server.requests) == 6


def test_content_parts_refusals_and_foreign_bodies(chat_server, source_image, edited_image):
    parts = chat_server(lambda r: Reply([{"type": "text", "text": good(r).content}]))
    assert judge_once(make_judge(parts), source_image, edited_image, "add a hat") == EXPECTED

    refusing = chat_server(lambda r: Reply(None))
    with pytest.raises(JudgeReplyError, match="the reply is empty"):
        judge_once(make_judge(refusing), source_image, edited_image, "add a hat")

    proxy = chat_server(lambda r: Reply(body="<html>gateway login</html>"))
    with pytest.raises(JudgeRequestError, match="did not answer in the chat-completions format"):
        judge_once(make_judge(proxy), source_image, edited_image, "add a hat")
