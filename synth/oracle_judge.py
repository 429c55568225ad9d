"""`--judge oracle`: scores an edit of a synth benchmark image against its exact ground truth."""

from __future__ import annotations

import numpy as np
from PIL import Image

from judge.judgement import Judge, Judgement, Judgements
from judge.registry import JudgeOptions, register_judge

from .measure import measure
from .render import render_array
from .truth import read_truth


class OracleJudge(Judge):
    """Knows the scene behind each source image, so it measures instead of asking a model."""

    async def judge(self, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
        before, after = read_truth(source, instruction)
        size = (before.width, before.height)
        if edited.size != size:  # the pipeline may round sizes to multiples of 8
            edited = edited.resize(size, Image.Resampling.BICUBIC)
        pixels = np.asarray(edited.convert("RGB"))
        measured = measure(render_array(before), render_array(after), pixels)
        return {name: Judgement(m.verdict, m.score, m.text) for name, m in measured.items()}


@register_judge("oracle")
def create_oracle_judge(options: JudgeOptions) -> Judge:
    """Needs no options: the truth comes with the source images."""
    return OracleJudge()
