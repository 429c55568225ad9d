"""How a checkpoint edits the page's six samples (issue 17, item 7): oracle verdicts and a picture sheet.

    python -m scripts.page_samples --model DIR --out sheet.png [--steps 10 --guidance-scale 2 ...]

Edits each sample of tests/web/samples.py with its suggested instruction and seed 0, as the page
would, judges it against the scene's exact edit, prints one Markdown row per sample, and writes a
sheet with one row per sample: source, the model's edit, the exact edit. Unset sampling options
are the checkpoint's own defaults, as the service uses them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model import RewardEditPipeline
from model.cli import add_sampling_arguments
from synth.generate import scene_cases
from synth.measure import measure
from synth.render import render_array
from tests.web.samples import CATEGORIES, SAMPLE_STREAM, SEED, SIDE

PERSPECTIVES = ("following", "preserving", "quality")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the sheet (PNG)")
    add_sampling_arguments(parser)
    parser.add_argument("--scale", type=int, default=3, help="pixels per scene pixel on the sheet")
    args = parser.parse_args()

    pipe = RewardEditPipeline.from_pretrained(args.model)
    settings = {  # None: the pipeline takes the checkpoint's own
        "num_inference_steps": args.steps,
        "guidance_scale": args.guidance_scale,
        "image_guidance_scale": args.image_guidance_scale,
    }
    print(f"{args.model}: asked {settings}; the checkpoint's defaults {pipe.sampling_defaults}\n")
    print("| sample | instruction | " + " | ".join(PERSPECTIVES) + " |")
    print("|---|---|" + "---|" * len(PERSPECTIVES))
    rows, passed = [], 0
    for index, category in enumerate(CATEGORIES):
        (case,) = scene_cases(SEED, SAMPLE_STREAM, index, SIDE, (category,))
        before, truth = render_array(case.before), render_array(case.after)
        edited = pipe(
            image=Image.fromarray(before),
            instruction=case.instruction,
            generator=torch.Generator().manual_seed(0),
            **settings,
        ).images[0]
        pixels = np.asarray(edited.convert("RGB"))
        measured = measure(before, truth, pixels)
        passed += measured["following"].verdict
        verdicts = (measured[p] for p in PERSPECTIVES)
        cells = " | ".join(f"{m.score:.0f}{' yes' if m.verdict else ''}" for m in verdicts)
        print(f"| {category} | {case.instruction} | {cells} |")
        rows.append(np.concatenate([before, pixels, truth], axis=1))
    print(f"\nfollowing yes on {passed} of {len(CATEGORIES)}")
    sheet = np.concatenate(rows, axis=0).repeat(args.scale, axis=0).repeat(args.scale, axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out)
    print(f"wrote {args.out} (rows: {', '.join(CATEGORIES)}; columns: source, edit, exact edit)")


if __name__ == "__main__":
    main()
