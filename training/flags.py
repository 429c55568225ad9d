"""Command-line flags generated from a pydantic model's fields, so the config has one definition.

Flags carry raw strings (or booleans) and default to "not given"; pydantic converts and checks
them together with the YAML values, so a flag and a YAML key are validated by the same rules.
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

METAVARS = {Path: "PATH", int: "N", float: "X", str: "TEXT"}


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def add_model_flags(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """One flag per field: booleans get --x/--no-x, literals get choices, the rest a value."""
    for name, field in model.model_fields.items():
        help_text = field.description or ""
        if field.default is PydanticUndefined:
            help_text += " (required)"
        elif field.default is not None:
            help_text += f" (default: {field.default})"
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        annotation = without_none(field.annotation)
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) is Literal:
            kwargs["choices"] = typing.get_args(annotation)
            kwargs["metavar"] = "|".join(kwargs["choices"])
        else:
            kwargs["metavar"] = METAVARS.get(annotation, "VALUE")
        parser.add_argument(flag_name(name), **kwargs)


def given_flags(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The model fields that were set on the command line."""
    return {name: getattr(args, name) for name in model.model_fields if hasattr(args, name)}


def without_none(annotation: Any) -> Any:
    """`X | None` -> X, so optional fields get the same flag as required ones."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation
