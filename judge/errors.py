"""Errors of the judge package, split by whether the next item can still succeed."""

from __future__ import annotations


class JudgeError(RuntimeError):
    """Base class: a judgement could not be obtained."""


class JudgeReplyError(JudgeError, ValueError):
    """The judge answered, but the answer cannot be read: only this item is lost, so runs go on."""

    def __init__(self, perspective: str, problem: str, reply: str) -> None:
        excerpt = reply if len(reply) <= 200 else reply[:200] + "..."
        super().__init__(f"{perspective} judgement: {problem} (reply: {excerpt!r})")
        self.perspective = perspective
        self.reply = reply


class JudgeRequestError(JudgeError):
    """The judge could not be reached or refused the request after retries: later items would fail too."""


class InputFileError(ValueError):
    """A manifest or benchmark file is malformed or names files that do not exist."""


class JudgeInputError(JudgeReplyError):
    """The judge cannot take this edit at all (a local model's input limits): only this item is lost."""

    def __init__(self, perspective: str, problem: str) -> None:
        JudgeError.__init__(self, f"{perspective} judgement: {problem}")
        self.perspective = perspective
        self.reply = ""
