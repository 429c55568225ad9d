"""The page's sample source images: `python -m tests.web.samples` rewrites them and their samples.json.

The default model is trained on the synthetic editing world, so the samples are scenes of that
world at its native 64x64, each with one instruction of its own category that the scene can take.
They are committed under api/static/samples/ (the service serves them as they are); a test checks
the committed files still hold these pixels and this index.

The PNGs carry no synth truth chunk: the service re-encodes every upload without text chunks, so
the oracle could never read it there, and the page has no use for the answer key.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from api.routers.page import SAMPLE_INDEX
from synth.generate import scene_cases
from synth.render import render

FOLDER = Path(__file__).resolve().parents[2] / "api" / "static" / "samples"
SIDE = 64
SEED = 0
SAMPLE_STREAM = 2  # neither synth's training stream nor its benchmark stream: scenes no model saw
# One sample each; texture is left out: a texture change on a 64 px shape is the hardest to see.
CATEGORIES = ("local", "remove", "add", "background", "global", "style")


@dataclass(frozen=True)
class Sample:
    """One sample: its file name under FOLDER, the scene's pixels and the instruction it suggests."""

    file: str
    image: Image.Image
    instruction: str
    category: str


def samples() -> list[Sample]:
    """Scene i of the sample stream with an edit of CATEGORIES[i], deterministic for SEED."""
    drawn = []
    for index, category in enumerate(CATEGORIES):
        (case,) = scene_cases(SEED, SAMPLE_STREAM, index, SIDE, (category,))
        drawn.append(Sample(f"{category}.png", render(case.before), case.instruction, category))
    return drawn


def index_of(drawn: list[Sample]) -> dict[str, dict[str, str]]:
    """samples.json: file name -> the suggested instruction and its category."""
    return {s.file: {"instruction": s.instruction, "category": s.category} for s in drawn}


def write(folder: Path = FOLDER) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    drawn = samples()
    for sample in drawn:
        sample.image.save(folder / sample.file, optimize=True)
    (folder / SAMPLE_INDEX).write_text(json.dumps(index_of(drawn), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER)
