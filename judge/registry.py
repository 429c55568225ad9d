"""Judge backends by name, as `--judge NAME` selects them.

A backend module decorates a factory with `@register_judge("name")` and is listed in
BACKEND_MODULES, which is imported the first time a name is looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .judgement import Judge

BACKEND_MODULES = ("judge.openai_judge", "synth.oracle_judge")


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


JudgeFactory = Callable[[JudgeOptions], Judge]
_FACTORIES: dict[str, JudgeFactory] = {}


def register_judge(name: str) -> Callable[[JudgeFactory], JudgeFactory]:
    def register(factory: JudgeFactory) -> JudgeFactory:
        if name in _FACTORIES:
            raise ValueError(f"a judge named {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return register


def judge_names() -> list[str]:
    for module in BACKEND_MODULES:
        importlib.import_module(module)
    return sorted(_FACTORIES)


def create_judge(name: str, options: JudgeOptions) -> Judge:
    """Build the named backend; ValueError (naming the known ones) for an unknown name or bad options."""
    if name not in judge_names():
        raise ValueError(f"unknown judge {name!r}; known: {', '.join(judge_names())}")
    return _FACTORIES[name](options)
