"""Reading the deployment files as Docker and compose read them (the parts the tests need)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
VARIABLE = re.compile(r"\$\{[^}]*\}")
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms|us)")
UNIT_S = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def strings(node: Any) -> list[str]:
    """Every string value in a parsed YAML document (comments are not part of it)."""
    if isinstance(node, dict):
        return [text for value in node.values() for text in strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in strings(value)]
    return [node] if isinstance(node, str) else []


def literal(value: str) -> str:
    """What is written in the file itself, without the ${VARIABLES} compose fills in."""
    return VARIABLE.sub("", value)


def mount(volume: str) -> tuple[str, str, str]:
    """(source, target, mode) of a short-syntax volume; a ${VARIABLE} source reads as `$`."""
    source, target, *mode = VARIABLE.sub("$", volume).split(":")
    return source, target, mode[0] if mode else "rw"


def seconds(duration: str) -> float:
    """A compose duration ("1m30s", "10m") in seconds."""
    parts = DURATION_PART.findall(duration)
    assert parts and "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * UNIT_S[unit] for number, unit in parts)


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments left out."""
    lines = [
        line for line in (DOCKER / dockerfile).read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [
        (keyword.upper(), arguments.strip())
        for keyword, arguments in (
            line.strip().split(maxsplit=1) for line in joined.splitlines() if line.strip()
        )
    ]


def exec_form(dockerfile: str, keyword: str) -> list[str]:
    """The last CMD or ENTRYPOINT of a Dockerfile, which must be in exec (JSON) form."""
    arguments = [args for name, args in instructions(dockerfile) if name == keyword][-1]
    return json.loads(arguments)


def env_names(dockerfile: str) -> dict[str, str]:
    """The ENV variables a Dockerfile sets (the `KEY=value ...` form) and ARG defaults."""
    names: dict[str, str] = {}
    for keyword, arguments in instructions(dockerfile):
        if keyword in ("ENV", "ARG"):
            for pair in arguments.split():
                name, _, value = pair.partition("=")
                names[name] = value
    return names
