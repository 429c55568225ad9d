"""Judges: score edits from three perspectives, label manifests with rewards, evaluate checkpoints."""

from .errors import InputFileError, JudgeError, JudgeInputError, JudgeReplyError, JudgeRequestError
from .judgement import PERSPECTIVES, Judge, Judgement, Judgements, weighted_score
from .registry import JudgeOptions, create_judge, judge_names, loads_model, register_judge

__all__ = [
    "PERSPECTIVES",
    "InputFileError",
    "Judge",
    "JudgeError",
    "JudgeInputError",
    "JudgeOptions",
    "JudgeReplyError",
    "JudgeRequestError",
    "Judgement",
    "Judgements",
    "create_judge",
    "judge_names",
    "loads_model",
    "register_judge",
    "weighted_score",
]
