"""docker/pick-gpu.sh: each worker container on a host gets a GPU of its own, while it lives.

A fake `nvidia-smi` on PATH stands for a host with two GPUs; the "worker" prints the GPU it was
given and stays alive holding it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import DOCKER

PICK_GPU = DOCKER / "pick-gpu.sh"
WORKER = ["sh", "-c", 'echo "gpu=$CUDA_VISIBLE_DEVICES"; exec sleep 60']


@pytest.fixture
def host(tmp_path: Path) -> dict[str, str]:
    """The environment of a container on a host with two GPUs (a fake nvidia-smi)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: Fake (UUID: GPU-0)'\necho 'GPU 1: Fake (UUID: GPU-1)'\n")
    fake.chmod(0o755)
    env = {name: value for name, value in os.environ.items() if name != "CUDA_VISIBLE_DEVICES"}
    return {**env, "PATH": f"{bin_dir}:{env['PATH']}", "GPU_LOCK_DIR": str(tmp_path / "locks")}


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def start(workers: list[subprocess.Popen], env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        ["sh", str(PICK_GPU), *WORKER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    workers.append(process)
    return process


def given_gpu(process: subprocess.Popen) -> str:
    return process.stdout.readline().strip()


def test_each_worker_holds_its_own_gpu_until_it_ends(host, workers):
    first, second = start(workers, host), start(workers, host)
    freed = given_gpu(first)
    assert {freed, given_gpu(second)} == {"gpu=0", "gpu=1"}

    third = start(workers, host)
    assert third.wait(timeout=30) == 1
    assert "no free GPU: 2 visible" in third.stderr.read()

    first.kill()
    first.wait()
    assert given_gpu(start(workers, host)) == freed


def test_a_gpu_chosen_by_the_operator_is_kept(host, workers):
    assert given_gpu(start(workers, {**host, "CUDA_VISIBLE_DEVICES": "3"})) == "gpu=3"


def test_without_a_gpu_the_worker_does_not_start(host, workers):
    process = start(workers, {**host, "PATH": "/usr/bin:/bin"})
    assert process.wait(timeout=30) == 1
    assert "0 visible" in process.stderr.read()
