"""docker/docker-compose.yml: valid for docker-compose, and what a deployment relies on is there."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from worker.settings import Settings

from .helpers import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    compose,
    env_names,
    exec_form,
    literal,
    mount,
    seconds,
    strings,
)

SECRET_NAME = re.compile(r"KEY|PASSWORD|SECRET|TOKEN|AUTH", re.IGNORECASE)
SETTINGS_SERVICES = ("api", "worker", "flower")


def docker_compose_config(folder: Path, **variables: str) -> subprocess.CompletedProcess:
    """`docker-compose config` on a copy of docker/ whose .env is .env.example, as a new deployment."""
    if shutil.which("docker-compose") is None:
        pytest.skip("no docker-compose binary (Debian's docker-compose package; `make test` installs it)")
    (folder / "docker").mkdir(parents=True)
    shutil.copy(COMPOSE_FILE, folder / "docker" / COMPOSE_FILE.name)
    shutil.copy(ENV_EXAMPLE, folder / "docker" / ".env")
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return subprocess.run(
        ["docker-compose", "-f", "docker/docker-compose.yml", "config"],
        cwd=folder,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_docker_compose_accepts_the_file_and_requires_a_redis_password(tmp_path):
    resolved = docker_compose_config(tmp_path / "with", REDIS_PASSWORD="test-only-password")
    assert resolved.returncode == 0, resolved.stderr
    services = yaml.safe_load(resolved.stdout)["services"]
    assert set(services) == {"redis", "api", "worker", "flower"}
    assert services["worker"]["deploy"]["resources"]["reservations"]["devices"]  # kept, not dropped
    assert "redis://:test-only-password@redis:6379/0" in services["api"]["environment"].values()

    remote = docker_compose_config(tmp_path / "remote", REDIS_PASSWORD="pw", REDIS_ADDRESS="head:6379")
    assert remote.returncode == 0, remote.stderr
    worker_env = yaml.safe_load(remote.stdout)["services"]["worker"]["environment"]
    assert worker_env["REWARDEDIT_BROKER_URL"] == "redis://:pw@head:6379/0"

    refused = docker_compose_config(tmp_path / "without")
    assert refused.returncode != 0 and "set REDIS_PASSWORD in docker/.env" in refused.stderr


def test_the_worker_gets_gpus_and_scales():
    worker = compose()["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert [(d["driver"], "gpu" in d["capabilities"]) for d in devices] == [("nvidia", True)]
    # --scale worker=N: nothing that only one container can have.
    assert "container_name" not in worker and "ports" not in worker
    # One GPU each: pick-gpu (tested in test_pick_gpu.py) holds a lock per GPU in a shared volume.
    assert exec_form("worker.Dockerfile", "ENTRYPOINT") == ["pick-gpu"]
    assert "/var/lock/rewardedit" in {mount(volume)[1] for volume in worker["volumes"]}


def test_every_service_has_a_healthcheck_with_a_start_period():
    services = compose()["services"]
    for name in ("redis", "api", "worker"):
        check = services[name]["healthcheck"]
        assert check["test"] and seconds(check["start_period"]) > 0, name
    worker = services["worker"]["healthcheck"]
    assert worker["test"] == ["CMD", "python", "-m", "worker.healthcheck"]  # the heartbeat, not a ping
    assert seconds(worker["start_period"]) >= 300  # loading a full-size model
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    for name in ("api", "worker", "flower"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_redis_persists_and_never_evicts():
    document = compose()
    redis = document["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert redis["image"].startswith("redis:7")
    [(source, target, _)] = [mount(volume) for volume in redis["volumes"]]
    assert target == "/data" and source in document["volumes"]


def test_models_and_the_hugging_face_cache_are_volumes():
    worker = compose()["services"]["worker"]
    modes = {target: mode for _, target, mode in map(mount, worker["volumes"])}
    assert modes["/models"] == "ro"  # workers only read checkpoints
    assert env_names("worker.Dockerfile")["HF_HOME"] in modes


def test_no_secret_is_written_into_the_compose_file():
    services = compose()["services"]
    for name, service in services.items():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(variable):
                assert literal(value) == "", (name, variable)
            for userinfo in re.findall(r"://([^@/]*)@", literal(value)):
                assert userinfo in ("", ":"), (name, variable)
        command = service.get("command") or []
        for flag, value in itertools.pairwise(command):
            if SECRET_NAME.search(flag) or "pass" in flag:
                assert literal(value) == "", (name, flag)
    for name in SETTINGS_SERVICES:
        assert services[name]["env_file"] == ".env", name


def test_the_env_example_documents_every_setting_and_variable():
    example = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    settings = {f"REWARDEDIT_{name.upper()}" for name in Settings.model_fields}
    assert settings <= documented, sorted(settings - documented)
    used = {name for text in strings(compose()) for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)}
    assert used <= documented, sorted(used - documented)
    # Nothing is set but the one required value, left empty for the operator.
    assert re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", example, re.MULTILINE) == [("REDIS_PASSWORD", "")]
