"""Two training processes on the CPU under `accelerate launch` (gloo), as a multi-GPU run is launched."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from model import RewardEditPipeline
from training.state import STATE_FILE, STATE_FOLDER

from .helpers import TINY_CONFIG


@pytest.mark.slow
def test_two_process_cpu_run_under_accelerate_launch(manifest, tmp_path, source_image):
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "rewardedit", "train", "--config", str(TINY_CONFIG), "--manifest", str(manifest),
        "--out", str(out), "--max-steps", "4", "--checkpoint-every", "2", "--validate-every", "4",
    ]  # fmt: skip
    # ACCELERATE_USE_CPU makes the launched processes form a gloo group instead of looking for GPUs.
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on 2 process(es)" in result.stderr
    assert result.stdout.count("wrote") == 1, "only the main process reports"

    state = json.loads((out / "checkpoint-4" / STATE_FOLDER / STATE_FILE).read_text())
    assert (state["world_size"], state["samples_seen"]) == (2, 4 * 2 * 2)
    with (out / "logs" / "train.csv").open() as log:
        assert [int(row["step"]) for row in csv.DictReader(log)] == [1, 2, 3, 4]
    assert len(list((out / "validation" / "step-000004").glob("*.png"))) == 1

    pipe = RewardEditPipeline.from_pretrained(out / "final")
    assert pipe(image=source_image, instruction="make it blue", num_inference_steps=2).images[0].size == (
        64,
        64,
    )
