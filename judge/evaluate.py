"""`rewardedit eval`: edit every benchmark item with a checkpoint, judge the edits, tabulate the verdicts."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from model import EditRequest, RewardEditPipeline, Rewards
from model.image import prepare_image
from model.pipeline_config import SamplingDefaults

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
    """How each benchmark item is edited; every item uses the same seed, so results do not depend on order.

    `rewards` is what every edit asks for: the best (5/5/5, texts "None"), as the paper evaluates;
    lower scores sweep the reward sliders; None asks for no reward (the learned null condition), to
    see what the same model does untold. `batch_size` edits of one size run together (the same
    images as one at a time, faster). Steps and guidance left None are the checkpoint's defaults
    (`with_defaults` fills them in, so that the report says what ran).
    """

    steps: int | None = None
    seed: int = 0
    guidance_scale: float | None = None
    image_guidance_scale: float | None = None
    reward_guidance_scale: float = 1.0
    scheduler: str | None = None  # a sampler name; None: the checkpoint's own
    max_side: int = 512
    device: str = "cpu"
    rewards: Rewards | None = field(default_factory=Rewards)
    batch_size: int = 8

    def with_defaults(self, defaults: SamplingDefaults) -> EditSettings:
        """These settings with every unset sampling setting taken from the checkpoint's defaults."""
        steps, guidance, image_guidance = self.steps, self.guidance_scale, self.image_guidance_scale
        return dataclasses.replace(
            self,
            steps=defaults.num_inference_steps if steps is None else steps,
            guidance_scale=defaults.guidance_scale if guidance is None else guidance,
            image_guidance_scale=defaults.image_guidance_scale if image_guidance is None else image_guidance,
        )

    def request(self, item: BenchmarkItem) -> EditRequest:
        return EditRequest(
            source_image(item, self),
            item.instruction,
            self.rewards,
            self.guidance_scale,
            self.image_guidance_scale,
            self.reward_guidance_scale,
            torch.Generator().manual_seed(self.seed),
        )


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
    """Edit every item, `settings.batch_size` neighbouring items of the same size at a time."""
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(items), desc="editing", unit="image") as bar:
        for batch in same_size_batches(items, settings):
            requests = [request for _, request in batch]
            images = pipe.edit_batch(
                requests, settings.steps, settings.max_side, scheduler=settings.scheduler
            ).images
            for (item, _), image in zip(batch, images, strict=True):
                image.save(edited_path(out, item))
            bar.update(len(batch))


def same_size_batches(
    items: list[BenchmarkItem], settings: EditSettings
) -> Iterator[list[tuple[BenchmarkItem, EditRequest]]]:
    """Runs of consecutive items with their requests, sources of one size, at most batch_size long."""
    batch: list[tuple[BenchmarkItem, EditRequest]] = []
    for item in items:
        request = settings.request(item)
        if batch and (request.image.size != batch[0][1].image.size or len(batch) == settings.batch_size):
            yield batch
            batch = []
        batch.append((item, request))
    if batch:
        yield batch


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
    pipe = RewardEditPipeline.from_pretrained(model, device=settings.device)
    settings = settings.with_defaults(pipe.sampling_defaults)
    edit_all(pipe, items, out, settings)
    about = {"model": str(model), "judge": judge_about, "settings": dataclasses.asdict(settings)}
    return judge_and_report(items, benchmark, out, judge, workers, settings, about)


def judge_and_report(
    items: list[BenchmarkItem],
    benchmark: Path,
    out: Path,
    judge: Judge,
    workers: int,
    settings: EditSettings,
    about: dict[str, Any],
) -> EvalResult:
    """Judge the edits already in OUT/images and write the judgements and the tables.

    `about` says where the edits came from ("model", "judge", "settings"), for the report.
    """
    outcomes = judge_edits(judge, items, out, settings, workers)
    write_judgements(out / JUDGEMENTS_FILE, items, outcomes, benchmark)

    judged = [(item.category, o) for item in items if not isinstance(o := outcomes[item.id], Exception)]
    table = evaluation_table(judged, CATEGORIES)
    summary = {
        **about,
        "benchmark": str(benchmark),
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
