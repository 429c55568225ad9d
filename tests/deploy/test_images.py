"""docker/*.Dockerfile: the images run the `rewardedit` commands the tests run, and hold no secret."""

from __future__ import annotations

import importlib
import re

from rewardedit.cli import build_parser

from .helpers import ROOT, compose, env_names, exec_form, instructions

SECRET_NAME = re.compile(r"KEY|PASSWORD|SECRET|TOKEN|AUTH", re.IGNORECASE)


def test_the_api_image_runs_rewardedit_serve_on_the_published_port():
    command = exec_form("api.Dockerfile", "CMD")
    assert command[0] == "rewardedit"
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.host) == ("serve", "0.0.0.0")
    api = compose()["services"]["api"]
    assert "command" not in api and "entrypoint" not in api  # the image's own
    assert [port.rsplit(":", 1)[1] for port in api["ports"]] == [str(args.port)]
    assert f"127.0.0.1:{args.port}/healthz" in " ".join(api["healthcheck"]["test"])


def test_the_worker_image_runs_rewardedit_worker_on_cuda():
    command = exec_form("worker.Dockerfile", "CMD")
    assert command[0] == "rewardedit"
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.device) == ("worker", "cuda")
    worker = compose()["services"]["worker"]
    assert "command" not in worker and "entrypoint" not in worker
    base = env_names("worker.Dockerfile")["BASE_IMAGE"]
    assert base.startswith("pytorch/pytorch:") and "cuda" in base and base.endswith("-runtime")


def test_the_api_image_installs_the_cpu_build_of_torch_first():
    runs = [args for keyword, args in instructions("api.Dockerfile") if keyword == "RUN"]
    assert "download.pytorch.org/whl/cpu" in runs[0] and "torch" in runs[0]


def test_flower_runs_with_the_workers_celery_configuration(monkeypatch):
    flower = compose()["services"]["flower"]
    assert flower["profiles"] == ["monitor"]
    assert flower["command"][:3] == ["celery", "--app", "worker.monitor"]
    monkeypatch.setenv("REWARDEDIT_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("REWARDEDIT_NAMESPACE", "deploy-test")
    monitor = importlib.reload(importlib.import_module("worker.monitor"))
    assert monitor.app.conf.task_default_queue == "deploy-test"
    assert monitor.app.conf.broker_transport_options["global_keyprefix"] == "deploy-test:celery:"


def test_no_secret_goes_into_an_image():
    for dockerfile in ("api.Dockerfile", "worker.Dockerfile"):
        assert not [name for name in env_names(dockerfile) if SECRET_NAME.search(name)], dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"**/.env", "**/.env.*", ".git", ".venv"} <= set(ignored)
