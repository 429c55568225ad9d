"""The reply parser: what real models send is read, what carries no judgement is rejected by name."""

from __future__ import annotations

import pytest

from judge import Judgement, JudgeReplyError
from judge.parse import parse_judgement
from model.rewards import MAX_TEXT_CHARS

ACCEPTED = [
    ('{"verdict": "yes", "score": 5, "problem": "None"}', Judgement(True, 5.0, "None")),
    (
        '{"verdict": false, "score": 2.5, "problem": "The cat is still grey."}',
        Judgement(False, 2.5, "The cat is still grey."),
    ),
    (
        '{"verdict": "No", "score": "3", "problem": "Only half the sky changed."}',
        Judgement(False, 3.0, "Only half the sky changed."),
    ),
    ('{"verdict": "yes", "score": "4/5", "problem": "none"}', Judgement(True, 4.0, "None")),
    ('{"verdict": "no", "score": "1.5 out of 5", "problem": "N/A"}', Judgement(False, 1.5, "None")),
    (
        '```json\n{\n  "verdict": "yes",\n  "score": 4,\n  "problem": "A faint seam."\n}\n```',
        Judgement(True, 4.0, "A faint seam."),
    ),
    (
        'Here is my review.\n{"Verdict": "Yes.", "Score": 4.0, "Problem": "None"}\nHope this helps!',
        Judgement(True, 4.0, "None"),
    ),
    ("{'verdict': True, 'score': 3, 'problem': None}", Judgement(True, 3.0, "None")),
    ("{'verdict': false, 'score': 0, 'problem': null,}", Judgement(False, 0.0, "None")),
    (
        'Scores run {0..5}. Answer: {"verdict": "no", "score": 2, "problem": "a {weird} sign"}',
        Judgement(False, 2.0, "a {weird} sign"),
    ),
    ('{"following": {"verdict": "pass", "score": 5}}', Judgement(True, 5.0, "None")),
    (
        '{"verdict": "no", "score": 1, "problem": ["wrong object", "too dark"]}',
        Judgement(False, 1.0, "wrong object; too dark"),
    ),
    (
        '{"answer": "n", "rating": 2, "reason": "  the\\n dog   moved "}',
        Judgement(False, 2.0, "the dog moved"),
    ),
]


@pytest.mark.parametrize(("reply", "expected"), ACCEPTED)
def test_reads_the_formats_models_answer_in(reply, expected):
    assert parse_judgement(reply, "following") == expected


def test_long_problem_texts_are_cut_to_what_rewards_accept():
    reply = '{"verdict": "no", "score": 1, "problem": "%s"}' % ("the roof is wrong " * 40)
    text = parse_judgement(reply, "quality").text
    assert len(text) <= MAX_TEXT_CHARS
    assert text.startswith("the roof is wrong") and text.endswith("...")


REJECTED = [
    ("I am sorry, I cannot evaluate these images.", "no JSON object with a score"),
    ('{"verdict": "yes", "problem": "None"}', "no JSON object with a score"),
    ('{"verdict": "yes", "score": 4', "no JSON object with a score"),
    ('{"verdict": "maybe", "score": 3}', "cannot read verdict 'maybe'"),
    ('{"score": 3, "problem": "None"}', "gives no verdict"),
    ('{"verdict": "yes", "score": 7}', "outside [0, 5]"),
    ('{"verdict": "yes", "score": -1}', "outside [0, 5]"),
    ('{"verdict": "yes", "score": NaN}', "outside [0, 5]"),
    ('{"verdict": "yes", "score": "high"}', "cannot read score 'high'"),
    ('{"verdict": "yes", "score": true}', "cannot read score True"),
]


@pytest.mark.parametrize(("reply", "problem"), REJECTED)
def test_rejects_what_it_cannot_read_naming_the_perspective(reply, problem):
    with pytest.raises(JudgeReplyError) as caught:
        parse_judgement(reply, "preserving")
    message = str(caught.value)
    assert message.startswith("preserving judgement: ")
    assert problem in message
    assert caught.value.reply == reply
