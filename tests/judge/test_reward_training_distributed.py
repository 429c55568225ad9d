"""`train-reward` in two processes on the CPU under `accelerate launch` (gloo), as on several GPUs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from judge.editreward import EditRewardScorer
from judge.reward_training.synth_pairs import write_pairs
from training.state import STATE_FILE, STATE_FOLDER


def free_port() -> int:
    """A port nothing listens on, so two suites on one machine never meet at gloo's default 29500."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_cpu_run_under_accelerate_launch(tmp_path):
    pairs = write_pairs(tmp_path / "pairs", 8, seed=5)
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        "-m", "rewardedit", "train-reward", "--shape", "small", "--train-pairs", str(pairs),
        "--eval-pairs", str(pairs), "--out", str(out), "--max-steps", "2", "--batch-size", "2",
        "--gradient-accumulation-steps", "1", "--checkpoint-every", "1", "--mc-samples", "4",
    ]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote") == 1, "only the main process reports"
    state = json.loads((out / "checkpoint-2" / STATE_FOLDER / STATE_FILE).read_text())
    assert (state["world_size"], state["samples_seen"]) == (2, 2 * 2 * 2)
    steps = [json.loads(line)["step"] for line in (out / "logs/train.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    EditRewardScorer.from_pretrained(out / "final", device="cpu")
