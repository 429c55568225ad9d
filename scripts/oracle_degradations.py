"""The oracle's verdicts on each benchmark item's exact edit under known blur and noise.

It tells how close to lossless a VAE must be before a latent model can pass each perspective:
`rewardedit synth-ceiling` gives a real VAE's row, this gives the rows it can be read against.

    python scripts/oracle_degradations.py BENCHMARK_FOLDER
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from judge.benchmark import read_benchmark
from judge.evaluate import EditSettings, source_image
from synth.measure import measure
from synth.render import render
from synth.truth import read_truth

DEGRADATIONS = (("blur", (0.3, 0.5, 0.7, 1.0)), ("noise", (2, 4, 8, 16)))  # Gaussian sigma px, std /255
PERSPECTIVES = ("following", "preserving", "quality")


def degrade(truth: np.ndarray, kind: str, level: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "blur":
        return np.asarray(Image.fromarray(truth).filter(ImageFilter.GaussianBlur(level)))
    noisy = truth + rng.normal(0.0, level, truth.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def row(
    label: str, pairs: list[tuple[np.ndarray, np.ndarray]], edit: Callable[[np.ndarray], np.ndarray]
) -> str:
    """One table row: mean PSNR against the truth and each perspective's yes-rate."""
    yes, psnrs = np.zeros(len(PERSPECTIVES)), []
    for source, truth in pairs:
        edited = edit(truth)
        mse = np.mean((edited.astype(np.float64) - truth) ** 2) / 255**2
        psnrs.append(-10 * np.log10(mse) if mse else float("inf"))
        verdicts = measure(source, truth, edited)
        yes += [verdicts[p].verdict for p in PERSPECTIVES]
    rates = " | ".join(f"{100 * y / len(pairs):.1f}%" for y in yes)
    return f"| {label} | {np.mean(psnrs):.1f} | {rates} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", type=Path, help="a `rewardedit synth-benchmark` folder")
    benchmark = parser.parse_args().benchmark
    settings = EditSettings()
    pairs = []
    for item in read_benchmark(benchmark):
        before, after = read_truth(source_image(item, settings), item.instruction)
        pairs.append((np.asarray(render(before)), np.asarray(render(after))))
    rng = np.random.default_rng(0)
    print("| exact edit, then | PSNR dB | " + " | ".join(f"{p} yes" for p in PERSPECTIVES) + " |")
    print("| --- " * (2 + len(PERSPECTIVES)) + "|")
    print(row("nothing", pairs, lambda truth: truth))
    for kind, levels in DEGRADATIONS:
        for level in levels:
            name = f"{kind}, {'sigma' if kind == 'blur' else 'std'} {level:g}"
            print(row(name, pairs, lambda truth, k=kind, x=level: degrade(truth, k, x, rng)))


if __name__ == "__main__":
    main()
