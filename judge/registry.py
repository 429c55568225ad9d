"""Judge backends by name, as `--judge NAME` selects them (or one per perspective, composite.py).

A backend module decorates a factory with `@register_judge("name")` and is listed in
BACKEND_MODULES, which is imported the first time a name is looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .composite import CompositeJudge, parse_judge_spec
from .judgement import PERSPECTIVES, Judge

BACKEND_MODULES = ("judge.openai_judge", "judge.editreward_judge", "synth.oracle_judge")


@dataclass(frozen=True)
class JudgeOptions:
    """Everything the command line says about the judge; each backend reads the fields it needs."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 5
    cache_dir: Path | None = None
    # The perspectives this backend is asked for: a composite asks each backend for its own.
    perspectives: tuple[str, ...] = PERSPECTIVES
    # Local reward models (editreward): the checkpoint, its base folder, where it runs, its calibration.
    reward_model: Path | None = None
    base_model: Path | None = None
    device: str | None = None
    batch_size: int = 4
    calibration: Path | None = None


JudgeFactory = Callable[[JudgeOptions], Judge]
_FACTORIES: dict[str, JudgeFactory] = {}
_LOADING_MODELS: set[str] = set()


def register_judge(name: str, loads_model: bool = False) -> Callable[[JudgeFactory], JudgeFactory]:
    """`loads_model`: making the judge loads a model into this process (seconds, gigabytes)."""

    def register(factory: JudgeFactory) -> JudgeFactory:
        if name in _FACTORIES:
            raise ValueError(f"a judge named {name!r} is already registered")
        _FACTORIES[name] = factory
        if loads_model:
            _LOADING_MODELS.add(name)
        return factory

    return register


def judge_names() -> list[str]:
    for module in BACKEND_MODULES:
        importlib.import_module(module)
    return sorted(_FACTORIES)


def judge_assignment(spec: str) -> dict[str, str]:
    """{perspective: backend name} of a spec; ValueError (naming the known backends) for a bad one."""
    assignment = parse_judge_spec(spec)
    for name in assignment.values():
        if name not in judge_names():
            raise ValueError(f"unknown judge {name!r}; known: {', '.join(judge_names())}")
    return assignment


def loads_model(spec: str) -> bool:
    """Whether making the judge of this (valid) spec loads a model into the process."""
    return not _LOADING_MODELS.isdisjoint(judge_assignment(spec).values())


def create_judge(spec: str, options: JudgeOptions) -> Judge:
    """Build the judge a spec names: one backend, or one per perspective (composite.py).

    ValueError (naming the known backends) for an unknown name, a bad spec or bad options.
    """
    assignment = judge_assignment(spec)
    names = list(dict.fromkeys(assignment.values()))
    if len(names) == 1:
        return _FACTORIES[names[0]](options)
    backends: dict[str, Judge] = {}
    for name in names:
        own = tuple(p for p in PERSPECTIVES if assignment[p] == name)
        backends[name] = _FACTORIES[name](replace(options, perspectives=own))
    return CompositeJudge(backends, assignment)
