"""What the reward model scores, and the error for an edit it cannot take (no torch needed to name them)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


class UnscorableEditError(ValueError):
    """This edit cannot be turned into the model's input (the other edits of a batch still can)."""


@dataclass(frozen=True)
class EditToScore:
    source: Image.Image
    edited: Image.Image
    instruction: str
