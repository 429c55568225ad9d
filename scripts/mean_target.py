"""What a model that regresses to the mean of the noisy targets would score: the oracle on that mean.

    python -m scripts.mean_target [--count 112 --draws 64]

A denoiser trained with MSE predicts, at high noise, the mean of the targets its condition allows.
For each of the world's exact edits (the stream scripts/denoise_probe.py uses) this draws many noisy
targets as synth-data does (synth.labels.random_plan, synth.failures.noisy_edit), averages them per
pixel and asks the oracle about that mean image: over all draws (the condition of a model without
rewards) and over the draws whose own oracle rewards a condition would ask for (quality 5; all three
5). The single draws' yes-rates are the noisy targets' own, which item 2 of issue 17 asks the base
to reach. Where the mean of all draws fails a perspective that single draws pass, a sampler must
commit to one target instead of blending them, and a reward condition that selects the clean draws
removes the blend.
"""

from __future__ import annotations

import argparse

import numpy as np

from model.rewards import PERSPECTIVES
from synth.failures import noisy_edit
from synth.labels import oracle_rewards, random_plan
from synth.measure import measure, off_palette, to_float
from synth.render import render_array
from synth.vocabulary import CATEGORIES

from .denoise_probe import STREAM, exact_cases

SUBSETS = ("all draws", "quality 5", "5 / 5 / 5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=112, help="exact edits (scenes x categories)")
    parser.add_argument("--draws", type=int, default=64, help="noisy targets drawn per edit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cases = exact_cases(args.count, args.seed)
    # rows[category][subset] -> per edit: (following, preserving, quality yes, off-palette / 255)
    rows: dict[str, dict[str, list[tuple[float, ...]]]] = {}
    singles: list[tuple[bool, ...]] = []
    for index, case in enumerate(cases):
        before, after = render_array(case.before), render_array(case.after)
        draws, rewards = [], []
        for draw in range(args.draws):
            rng = np.random.default_rng([args.seed, STREAM, index, draw])
            plan = random_plan(rng)
            edited = noisy_edit(rng, case, plan)
            draws.append(edited.astype(np.float64))
            rewards.append([getattr(oracle_rewards(case, edited, plan), p) for p in PERSPECTIVES])
        stacked, scores = np.stack(draws), np.array(rewards)
        singles += [tuple(s >= 4 for s in row) for row in scores]
        chosen = {
            "all draws": np.ones(len(draws), bool),
            "quality 5": scores[:, 2] == 5,
            "5 / 5 / 5": (scores == 5).all(1),
        }
        for subset, keep in chosen.items():
            if not keep.any():
                continue
            mean = np.clip(np.round(np.mean(stacked[keep], 0)), 0, 255).astype(np.uint8)
            verdicts = measure(before, after, mean)
            off = off_palette(to_float(before), to_float(after), to_float(mean))[0].mean() * 255
            row = (*(float(verdicts[p].verdict) for p in PERSPECTIVES), off)
            rows.setdefault(case.category, {}).setdefault(subset, []).append(row)

    single = np.mean(singles, 0) * 100
    print(f"{len(cases)} exact edits, {args.draws} noisy targets each")
    print(
        "single noisy targets, following / preserving / quality yes %:",
        " / ".join(f"{x:.1f}" for x in single),
    )
    print("\nmean image of the draws: following / preserving / quality yes %, off-palette / 255")
    print("| category | " + " | ".join(SUBSETS) + " |")
    print("|---" * (len(SUBSETS) + 1) + "|")
    for category in (*CATEGORIES, "all"):
        cells = []
        for subset in SUBSETS:
            picked = [r for c, by in rows.items() if category in (c, "all") for r in by.get(subset, [])]
            if not picked:
                cells.append("-")
                continue
            table = np.array(picked)
            yes = " / ".join(f"{x:.1f}" for x in table[:, :3].mean(0) * 100)
            cells.append(f"{yes}, {table[:, 3].mean():.1f}")
        print(f"| {category} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
