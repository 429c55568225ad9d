"""`rewardedit reward-bench`: how fast EditReward scores candidates here, and the GPU memory it takes.

The model has random weights of the real shapes (`7b`: Qwen2.5-VL-7B-Instruct's config), built
straight on the device, so no checkpoint is needed. Each candidate costs what a real one does:
both images are resized to about 448x448 whatever their size (the release's rule), the vision
tower encodes both, and two language-model rows (one per head) of about 900 tokens run. Timings
include the preprocessing. With `--editor sd15` the sd15-shaped editor is loaded beside it on the
same device, as a worker with REWARDEDIT_JUDGE=editreward holds both.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from .base_folder import read_base_folder
from .checkpoint import LoadedRewardModel
from .edits import EditToScore
from .random_model import random_model, write_base_folder
from .scorer import EditRewardScorer, default_dtype

GIB = 1024**3
IMAGE_SIDE = 448
EDITOR_SIDE = {"tiny": 64, "sd15": 512}


def sample_edit() -> EditToScore:
    """A structured 448x448 source and its colour-shifted edit (content does not change the cost)."""
    ramp = np.linspace(0, 255, IMAGE_SIDE, dtype=np.float32)
    source = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], np.full_like(ramp[None, :], 90)), -1)
    edited = source[..., ::-1]
    return EditToScore(
        Image.fromarray(source.astype(np.uint8)),
        Image.fromarray(np.ascontiguousarray(edited).astype(np.uint8)),
        "replace the blue sky with a purple sunset and add a small red boat on the lake",
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run: Callable[[], Any], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


def memory(device: torch.device) -> dict[str, float] | None:
    """Allocated now and at peak since the last reset, in GiB (None off CUDA)."""
    if device.type != "cuda":
        return None
    return {
        "allocated_gib": torch.cuda.memory_allocated(device) / GIB,
        "peak_gib": torch.cuda.max_memory_allocated(device) / GIB,
    }


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def time_batches(
    scorer: EditRewardScorer, args: argparse.Namespace, device: torch.device
) -> list[dict[str, Any]]:
    edit = sample_edit()
    results = []
    for size in args.batch_sizes:
        scorer.batch_size = size
        batch = [edit] * size
        for _ in range(args.warmup):
            scorer.score(batch)
        reset_peak(device)
        times = [timed(lambda batch=batch: scorer.score(batch), device) for _ in range(args.runs)]
        median = statistics.median(times)
        results.append(
            {
                "batch_size": size,
                "median_s": median,
                "min_s": min(times),
                "max_s": max(times),
                "seconds_per_candidate": median / size,
                "candidates_per_s": size / median,
                "memory": memory(device),
            }
        )
    return results


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = default_dtype(device)
    with tempfile.TemporaryDirectory(prefix="rewardedit-reward-bench-") as folder:
        base = read_base_folder(args.base_model or write_base_folder(folder, args.shape, seed=None))
    reset_peak(device)
    started = time.perf_counter()
    model = random_model(base, seed=0, device=device, dtype=dtype)
    synchronize(device)
    build_s = time.perf_counter() - started
    scorer = EditRewardScorer(LoadedRewardModel(model, base, "random"))
    rows = scorer.inputs.build([sample_edit()], (0, 1)).attention_mask.sum(dim=1).tolist()
    report: dict[str, Any] = {
        "shape": str(args.base_model or args.shape),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)",
        "dtype": str(dtype).removeprefix("torch."),
        "parameters": sum(p.numel() for p in model.parameters()),
        "build_s": build_s,
        "row_tokens": rows,
        "reward_model_memory": memory(device),
        "batches": time_batches(scorer, args, device),
    }
    if args.editor != "none":
        report["editor"] = beside_editor(scorer, args, device)
    return report


def beside_editor(scorer: EditRewardScorer, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Memory with the editor resident too, one timed edit, and scoring again beside it."""
    from model import EditRequest, RewardEditPipeline, build_preset

    pipe = RewardEditPipeline(build_preset(args.editor)).to(device)
    resident = memory(device)
    side = EDITOR_SIDE[args.editor]
    request = EditRequest(
        sample_edit().source.resize((side, side)),
        "make it purple",
        generator=torch.Generator().manual_seed(0),
    )
    reset_peak(device)
    edit_s = timed(lambda: pipe.edit_batch([request], args.editor_steps, side), device)
    during_edit = memory(device)
    return {
        "editor": args.editor,
        "both_resident": resident,
        "edit": {"side": side, "steps": args.editor_steps, "seconds": edit_s, "memory": during_edit},
        "scoring_beside_editor": time_batches(scorer, args, device),
    }


def gib(figures: dict[str, float] | None) -> str:
    return (
        "-"
        if figures is None
        else f"{figures['allocated_gib']:.2f} GiB allocated, peak {figures['peak_gib']:.2f} GiB"
    )


def batch_lines(batches: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"{'batch':>7}{'median s':>10}{'min s':>9}{'max s':>9}{'s/candidate':>13}{'candidates/s':>14}  memory"
    ]
    for b in batches:
        lines.append(
            f"{b['batch_size']:>7}{b['median_s']:>10.3f}{b['min_s']:>9.3f}{b['max_s']:>9.3f}"
            f"{b['seconds_per_candidate']:>13.3f}{b['candidates_per_s']:>14.2f}  {gib(b['memory'])}"
        )
    return lines


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"EditReward scoring, random weights, shape {report['shape']} "
        f"({report['parameters'] / 1e6:,.1f} M parameters) in {report['dtype']} on {report['device']}",
        f"built in {report['build_s']:.1f} s; rows of {' and '.join(map(str, report['row_tokens']))} tokens "
        f"(head 0, head 1); reward model: {gib(report['reward_model_memory'])}",
        *batch_lines(report["batches"]),
    ]
    editor = report.get("editor")
    if editor is not None:
        edit = editor["edit"]
        lines += [
            f"beside the {editor['editor']} editor: both resident {gib(editor['both_resident'])}",
            f"one {edit['side']} px edit of {edit['steps']} steps: {edit['seconds']:.2f} s; "
            f"{gib(edit['memory'])}",
            "scoring beside the editor:",
            *batch_lines(editor["scoring_beside_editor"]),
        ]
    return "\n".join(lines)
