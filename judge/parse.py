"""Reading a judgement out of what a vision-language model actually replies.

Models wrap the JSON in code fences or prose, quote numbers, write Python-style single quotes,
and answer "Yes." instead of true. Everything that still carries an unambiguous verdict, score and
text is accepted; anything else raises JudgeReplyError naming the perspective.
"""

from __future__ import annotations

import ast
import io
import json
import math
import re
import tokenize
from typing import Any

from model.rewards import MAX_SCORE, MAX_TEXT_CHARS, MIN_SCORE, NO_PROBLEM

from .errors import JudgeReplyError
from .judgement import Judgement

VERDICT_KEYS = ("verdict", "answer", "pass")
SCORE_KEYS = ("score", "rating")
TEXT_KEYS = ("problem", "text", "issue", "reason")
YES = {"yes", "y", "true", "pass", "passed"}
NO = {"no", "n", "false", "fail", "failed"}
EMPTY_TEXTS = {"", "none", "n/a", "na", "null", "nothing", "no problem", "no problems", "no issues"}
SCORE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*5(?:\.0)?|out of 5)?\s*$", re.IGNORECASE)
PYTHON_CONSTANTS = {"true": "True", "false": "False", "null": "None"}


def parse_judgement(reply: str, perspective: str) -> Judgement:
    """The Judgement in a model's reply, or JudgeReplyError saying why there is none."""
    fields = find_object(reply)
    if fields is None:
        raise JudgeReplyError(perspective, "no JSON object with a score found", reply)
    try:
        return Judgement(
            verdict=read_verdict(pick(fields, VERDICT_KEYS)),
            score=read_score(pick(fields, SCORE_KEYS)),
            text=read_text(pick(fields, TEXT_KEYS)),
        )
    except ValueError as exc:
        raise JudgeReplyError(perspective, str(exc), reply) from None


def find_object(reply: str) -> dict[str, Any] | None:
    """The first {...} in the reply that decodes to an object with a score (fences and prose skipped)."""
    start = reply.find("{")
    while start != -1:
        end = matching_brace(reply, start)
        if end is not None and (fields := as_fields(decode(reply[start : end + 1]))) is not None:
            return fields
        start = reply.find("{", start + 1)
    return None


def matching_brace(text: str, start: int) -> int | None:
    """Index of the brace closing text[start], skipping braces inside '...' or "..." strings."""
    depth, quote, escaped = 0, None, False
    for index in range(start, len(text)):
        char = text[index]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def decode(candidate: str) -> Any:
    """Strict JSON first, then Python-literal syntax (single quotes, True/None, trailing commas)."""
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        return python_literal(candidate)


def as_fields(value: Any) -> dict[str, Any] | None:
    """The object's fields with lower-cased keys, if it holds a score."""
    if not isinstance(value, dict):
        return None
    fields = {str(key).strip().lower(): item for key, item in value.items()}
    # Some models nest the answer under the aspect's name: {"following": {"verdict": ...}}.
    if len(fields) == 1 and isinstance(only := next(iter(fields.values())), dict):
        return as_fields(only)
    return fields if any(key in fields for key in SCORE_KEYS) else None


def python_literal(candidate: str) -> Any:
    """ast.literal_eval after turning JSON's true/false/null names into Python's (outside strings)."""
    try:
        tokens = [
            (tok.type, PYTHON_CONSTANTS.get(tok.string, tok.string))
            for tok in tokenize.generate_tokens(io.StringIO(candidate).readline)
        ]
        return ast.literal_eval(tokenize.untokenize(tokens).strip())
    except (tokenize.TokenError, IndentationError, SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def pick(fields: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((fields[key] for key in keys if key in fields), None)


def read_verdict(value: Any) -> bool:
    if value is None:
        raise ValueError("the reply gives no verdict")
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().strip(".!").lower()
        if word in YES:
            return True
        if word in NO:
            return False
    raise ValueError(f"cannot read verdict {value!r} as yes or no")


def read_score(value: Any) -> float:
    if isinstance(value, str) and (match := SCORE_PATTERN.match(value)):
        value = float(match.group(1))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"cannot read score {value!r} as a number")
    if not math.isfinite(value) or not MIN_SCORE <= value <= MAX_SCORE:
        raise ValueError(f"score {value!r} is outside [0, 5]")
    return float(value)


def read_text(value: Any) -> str:
    """The problem as one line of at most MAX_TEXT_CHARS characters; "None" when nothing is wrong."""
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    text = " ".join(str(value or "").split())
    if text.strip(".").lower() in EMPTY_TEXTS:
        return NO_PROBLEM
    if len(text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 3].rsplit(" ", 1)[0] + "..."
    return text
