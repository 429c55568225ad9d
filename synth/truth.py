"""The ground truth travels inside each benchmark source PNG, as a text chunk.

The judge interface sees only (source, edited, instruction), so the source image itself says which
scene it shows and which scene each of its instructions asks for; `rewardedit eval` hands the judge
the loaded PNG, text chunks included.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, PngImagePlugin

from judge.errors import InputFileError

from .edits import EditCase
from .render import render
from .scene import Scene

TRUTH_KEY = "rewardedit-synth"


def save_source(path: Path, scene: Scene, cases: list[EditCase]) -> None:
    """Write the scene as a PNG that carries the scene and every instruction's target scene."""
    truth = {"scene": scene.to_dict(), "edits": {case.instruction: case.after.to_dict() for case in cases}}
    info = PngImagePlugin.PngInfo()
    info.add_text(TRUTH_KEY, json.dumps(truth, separators=(",", ":")))
    path.parent.mkdir(parents=True, exist_ok=True)
    render(scene).save(path, pnginfo=info)


def read_truth(source: Image.Image, instruction: str) -> tuple[Scene, Scene]:
    """(source scene, target scene) for an instruction on a benchmark source image."""
    text = source.info.get(TRUTH_KEY)
    if text is None:
        raise InputFileError(f"the source image carries no {TRUTH_KEY!r} chunk: not a synth benchmark image")
    truth = json.loads(text)
    if instruction not in truth["edits"]:
        raise InputFileError(f"the source image knows no instruction {instruction!r}")
    return Scene.from_dict(truth["scene"]), Scene.from_dict(truth["edits"][instruction])
