"""Holding a service process's edits mid-run until the test lets them go: a state the test controls.

Tests that kill a worker in the middle of a job, or keep a job running past a timeout, must not
race the job: on a busy machine a job meant to be long can end before the kill lands. A gated
process (`python -m tests.service.gate worker|serve ...`) is the real `rewardedit` command with one
change: its N-th pipeline call, once its first step is done (progress recorded, lease renewed),
writes `held-N` into the gate's folder and waits there until the test writes `go-N` (or `open`,
which lets every call through). Meanwhile the process is healthy in every other way: its
heartbeat and lease threads keep running, as they would through one very long step.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from api.local_stack import wait_for

GATE_VARIABLE = "REWARDEDIT_TEST_GATE"
MODULE = "tests.service.gate"
ROOT = Path(__file__).resolve().parents[2]
HOLD_AFTER_STEP = 1
POLL_S = 0.02


class Gate:
    """The test's side: a folder shared with one gated process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        """What the gated process needs in its environment (this repository importable, too)."""
        path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
        return {GATE_VARIABLE: str(self.folder), "PYTHONPATH": path}

    def wait_held(self, call: int = 1, timeout_s: float = 120) -> None:
        """Until the process's call-th pipeline call waits at the gate."""
        wait_for((self.folder / f"held-{call}").exists, f"pipeline call {call} held at the gate", timeout_s)

    def release(self, call: int = 1) -> None:
        """Let the call-th pipeline call go on."""
        (self.folder / f"go-{call}").touch()

    def open(self) -> None:
        """Let every pipeline call go on, held or to come."""
        (self.folder / "open").touch()


def launch(settings: Mapping[str, str], gate: Gate | None) -> tuple[dict[str, str], str]:
    """The settings and the module a service process runs with: plain, or held at the gate."""
    if gate is None:
        return dict(settings), "rewardedit"
    return {**settings, **gate.env()}, MODULE


def hold_after_first_step(folder: Path, edit_batch: Callable[..., Any]) -> Callable[..., Any]:
    """edit_batch whose N-th call, after its first step, waits until the test lets it go."""
    calls = itertools.count(1)

    def gated(pipeline: Any, requests: Sequence[Any], *args: Any, callback: Any = None, **kwargs: Any) -> Any:
        call = next(calls)
        release = (folder / f"go-{call}", folder / "open")

        def step_then_hold(step: int, total: int) -> bool:
            go_on = callback is None or callback(step, total) is not False
            if go_on and step == HOLD_AFTER_STEP and not any(path.exists() for path in release):
                (folder / f"held-{call}").write_text(str(os.getpid()))
                while not any(path.exists() for path in release):
                    time.sleep(POLL_S)
            return go_on

        return edit_batch(pipeline, requests, *args, callback=step_then_hold, **kwargs)

    return gated


def main() -> None:
    from model import RewardEditPipeline
    from rewardedit.cli import main as rewardedit

    folder = Path(os.environ[GATE_VARIABLE])
    RewardEditPipeline.edit_batch = hold_after_first_step(folder, RewardEditPipeline.edit_batch)
    rewardedit(sys.argv[1:])


if __name__ == "__main__":
    main()
