"""`rewardedit eval`: edit every benchmark item with a checkpoint, judge the edits, tabulate the verdicts."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from model import RewardEditPipeline, Rewards
from model.image import prepare_image

from .batch import EditToJudge, Outcome, judge_with_progress, open_upright
from .benchmark import CATEGORIES, BenchmarkItem, read_benchmark
from .judgement import Judge
from .report import evaluation_table, markdown_table

IMAGES = "images"
JUDGEMENTS_FILE = "judgements.jsonl"
RESULTS_JSON = "results.json"
RESULTS_MARKDOWN = "results.md"


@dataclass(frozen=True)
class EditSettings:
    """How each benchmark item is edited; every item uses the same seed, so results do not depend on order."""

    steps: int = 30
    seed: int = 0
    guidance_scale: float = 7.5
    image_guidance_scale: float = 1.5
    reward_guidance_scale: float = 1.0
    max_side: int = 512
    device: str = "cpu"


@dataclass(frozen=True)
class EvalResult:
    table: dict[str, Any]
    failed: int


def edited_path(out: Path, item: BenchmarkItem) -> Path:
    return out / IMAGES / f"{item.id}.png"


def source_image(item: BenchmarkItem, settings: EditSettings) -> Image.Image:
    """The source as the pipeline edits it (upright, resized), which is also what the judge compares with."""
    return prepare_image(open_upright(item.image), settings.max_side)


def edit_all(pipe: RewardEditPipeline, items: list[BenchmarkItem], out: Path, settings: EditSettings) -> None:
    """Edit each item asking for the best reward (5/5/5, "None"), as the paper evaluates."""
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    for item in tqdm(items, desc="editing", unit="image"):
        result = pipe(
            image=source_image(item, settings),
            instruction=item.instruction,
            rewards=Rewards(),
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance_scale,
            image_guidance_scale=settings.image_guidance_scale,
            reward_guidance_scale=settings.reward_guidance_scale,
            generator=torch.Generator().manual_seed(settings.seed),
            max_side=settings.max_side,
        )
        result.images[0].save(edited_path(out, item))


def judge_edits(
    judge: Judge, items: list[BenchmarkItem], out: Path, settings: EditSettings, workers: int
) -> dict[str, Outcome]:
    edits = [
        EditToJudge(
            item.id,
            item.instruction,
            lambda item=item: (source_image(item, settings), open_upright(edited_path(out, item))),
        )
        for item in items
    ]
    outcomes: dict[str, Outcome] = {}
    judge_with_progress(
        judge, edits, workers, lambda edit, outcome: outcomes.update({edit.key: outcome}), "judging"
    )
    return outcomes


def evaluate(
    model: Path,
    benchmark: Path,
    out: Path,
    judge: Judge,
    workers: int,
    settings: EditSettings,
    judge_about: dict[str, Any],
) -> EvalResult:
    """Write OUT/images/<id>.png, OUT/judgements.jsonl, OUT/results.json and OUT/results.md."""
    items = read_benchmark(benchmark)
    edit_all(RewardEditPipeline.from_pretrained(model, device=settings.device), items, out, settings)
    outcomes = judge_edits(judge, items, out, settings, workers)
    write_judgements(out / JUDGEMENTS_FILE, items, outcomes, benchmark)

    judged = [(item.category, o) for item in items if not isinstance(o := outcomes[item.id], Exception)]
    table = evaluation_table(judged, CATEGORIES)
    summary = {
        "model": str(model),
        "benchmark": str(benchmark),
        "judge": judge_about,
        "settings": dataclasses.asdict(settings),
        "items": len(items),
        "failed": len(items) - len(judged),
        "table": table,
    }
    (out / RESULTS_JSON).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / RESULTS_MARKDOWN).write_text(results_markdown(summary), encoding="utf-8")
    return EvalResult(table, summary["failed"])


def write_judgements(
    path: Path, items: list[BenchmarkItem], outcomes: dict[str, Outcome], benchmark: Path
) -> None:
    """One JSON line per item, in benchmark order: its judgements, or the error that left it unjudged."""
    lines = []
    for item in items:
        outcome = outcomes[item.id]
        record: dict[str, Any] = {
            "id": item.id,
            "category": item.category,
            "instruction": item.instruction,
            "image": Path(os.path.relpath(item.image, benchmark.resolve())).as_posix(),
            "edited": f"{IMAGES}/{item.id}.png",
        }
        if isinstance(outcome, Exception):
            record["error"] = str(outcome)
        else:
            record["judgements"] = {name: j.to_dict() for name, j in outcome.items()}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    path.write_text("".join(lines), encoding="utf-8")


def results_markdown(summary: dict[str, Any]) -> str:
    def listing(fields: dict[str, Any]) -> str:
        return ", ".join(f"{key} {value}" for key, value in fields.items() if value is not None)

    return (
        f"# {summary['model']} on {summary['benchmark']}\n\n"
        f"- judge: {listing(summary['judge'])}\n"
        f"- settings: {listing(summary['settings'])}\n"
        f"- {summary['failed']} of {summary['items']} items could not be judged\n\n"
        + markdown_table(summary["table"])
    )
