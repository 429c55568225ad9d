"""Which sampler gives the best edits per second: oracle following / preserving per sampler and step count.

    python scripts/sampler_table.py --model model/demo_checkpoint --benchmark BENCH --out runs/samplers

Edits every benchmark item with each sampler the checkpoint supports at each step count (one seed,
best reward), times the editing alone, judges with the oracle, and prints a Markdown table. Each
(sampler, steps) run keeps its folder, so a rerun skips what is done.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from judge.benchmark import read_benchmark
from judge.evaluate import RESULTS_JSON, EditSettings, edit_all, judge_and_report
from judge.registry import JudgeOptions, create_judge
from model import InvalidInputError, RewardEditPipeline
from model.schedulers import SAMPLERS, check_sampler

TIMING = "timing.json"


def run(pipe: RewardEditPipeline, benchmark: Path, out: Path, sampler: str, steps: int, batch: int) -> dict:
    if (out / RESULTS_JSON).is_file() and (out / TIMING).is_file():
        return {**json.loads((out / RESULTS_JSON).read_text()), **json.loads((out / TIMING).read_text())}
    items = read_benchmark(benchmark)
    settings = EditSettings(steps=steps, scheduler=sampler, batch_size=batch, device=str(pipe.device))
    started = time.perf_counter()
    edit_all(pipe, items, out, settings)
    timing = {"edit_seconds": time.perf_counter() - started, "threads": torch.get_num_threads()}
    about = {"model": "", "judge": {"name": "oracle"}, "settings": {"steps": steps, "scheduler": sampler}}
    judge_and_report(items, benchmark, out, create_judge("oracle", JudgeOptions()), 4, settings, about)
    (out / TIMING).write_text(json.dumps(timing) + "\n")
    return {**json.loads((out / RESULTS_JSON).read_text()), **timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--benchmark", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 30])
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    pipe = RewardEditPipeline.from_pretrained(args.model)
    header = ("sampler", "steps", "following yes", "preserving yes", "following score", "preserving score")
    print(f"| {' | '.join(header)} | edits/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for sampler in SAMPLERS:
        try:
            check_sampler(sampler, pipe.components.scheduler)
        except InvalidInputError as exc:
            print(f"| {sampler} | - | skipped: {exc} | | | | |")
            continue
        for steps in args.steps:
            folder = args.out / f"{sampler}-{steps}"
            result = run(pipe, args.benchmark, folder, sampler, steps, args.batch_size)
            overall = result["table"]["all"]
            following, preserving = overall["following"], overall["preserving"]
            speed = result["items"] / result["edit_seconds"]
            rates = f"{100 * following['accuracy']:.1f}% | {100 * preserving['accuracy']:.1f}%"
            scores = f"{following['mean_score']:.2f} | {preserving['mean_score']:.2f}"
            print(f"| {sampler} | {steps} | {rates} | {scores} | {speed:.2f} |", flush=True)


if __name__ == "__main__":
    main()
