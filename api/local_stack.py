"""A local service stack as child processes: redis-server, `rewardedit worker`, `rewardedit serve`.

The load benchmark and the service tests both run the real processes through this module. Every
process gets its own session and log file, and stop() never leaves one behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import redis

# Variables that would point a child at another broker or configuration than the one given.
DROPPED_VARIABLES = ("REDIS_URL",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without any service settings, plus the given `REWARDEDIT_*` settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in DROPPED_VARIABLES and not name.startswith("REWARDEDIT_")
    }
    return {**env, **settings}


def wait_for(
    condition: Callable[[], bool],
    what: str,
    timeout_s: float,
    process: Process | None = None,
    interval_s: float = 0.1,
) -> None:
    """Poll condition() until it is true; fail with the process's log if it dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process is not None and not process.alive:
            raise RuntimeError(f"{what}: the process exited ({process.returncode}):\n{process.log_tail()}")
        if time.monotonic() > deadline:
            tail = process.log_tail() if process is not None else ""
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s\n{tail}")
        time.sleep(interval_s)


class Process:
    def __init__(self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                list(args),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env or os.environ),
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.alive:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL if it takes longer than timeout_s."""
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()


class RedisServer:
    """A private redis-server on a free port; with appendonly, its data survives restart()."""

    def __init__(self, workdir: Path, appendonly: bool = False) -> None:
        self.workdir = workdir
        self.appendonly = appendonly
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    def start(self) -> RedisServer:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        args += ["--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always"]
        self.process = Process(args, self.workdir / "redis.log")
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: self._answers(client), "redis-server start", 15, self.process, 0.05)
        client.close()
        return self

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False


def rewardedit_command(*args: str, module: str = "rewardedit") -> list[str]:
    """`rewardedit ARGS`, run by `module` (a wrapper of the command, in tests)."""
    return [sys.executable, "-m", module, *args]


class Service:
    """`rewardedit serve` on a free loopback port (embedded without a broker URL in settings)."""

    def __init__(
        self,
        workdir: Path,
        settings: Mapping[str, str],
        model: Path | None = None,
        module: str = "rewardedit",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = rewardedit_command("serve", "--host", "127.0.0.1", "--port", str(self.port), module=module)
        if model is not None:
            args += ["--model", str(model)]
        self.process = Process(args, workdir / f"serve-{self.port}.log", child_env(settings))

    def wait_ready(self, timeout_s: float = 90) -> Service:
        """Until /readyz answers 200: the app started and a worker announced itself."""
        wait_for(
            lambda: self._status("/readyz") == 200, f"service at {self.url}", timeout_s, self.process, 0.2
        )
        return self

    def _status(self, path: str) -> int | None:
        try:
            return httpx.get(self.url + path, timeout=5).status_code
        except httpx.HTTPError:
            return None

    def stop(self) -> None:
        self.process.stop()


class Worker:
    """`rewardedit worker` on the CPU."""

    def __init__(
        self,
        workdir: Path,
        settings: Mapping[str, str],
        model: Path | None = None,
        name: str = "worker",
        module: str = "rewardedit",
    ):
        args = rewardedit_command("worker", "--device", "cpu", module=module)
        if model is not None:
            args += ["--model", str(model)]
        self.process = Process(args, workdir / f"{name}.log", child_env(settings))

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()
