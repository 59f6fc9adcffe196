"""What the container and the installs rest on: requirements.lock made from pyproject.toml's
current dependency lists and actually installed, the Dockerfile installing from it with a working
HEALTHCHECK, and docker-compose passing every setting through and keeping /data on a volume."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from service.serving import bind_loopback
from service.settings import Settings
from tests.conftest import LiveService
from tools import lock

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_lock_was_made_from_the_current_dependency_lists() -> None:
    assert lock.recorded_digest() == lock.dependency_digest()


def test_the_lock_changes_when_a_dependency_changes(tmp_path: Path) -> None:
    edited = (ROOT / "pyproject.toml").read_text().replace('"httpx>=', '"httpx>=0.28,<9; httpx>=')
    (tmp_path / "pyproject.toml").write_text(edited)
    assert lock.dependency_digest(tmp_path / "pyproject.toml") != lock.recorded_digest()


def test_every_declared_dependency_is_pinned_at_a_version_it_allows() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = lock.pinned_versions()
    for line in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        requirement = Requirement(line)
        name = lock.normalise(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name]), (name, pins[name])


def test_this_environment_was_installed_from_the_lock() -> None:
    pins = lock.pinned_versions()
    installed = {lock.normalise(d.metadata["Name"]): d.version for d in distributions()}
    differing = {
        name: (pin, installed.get(name)) for name, pin in pins.items() if installed.get(name) != pin
    }
    assert differing == {}


def test_the_image_installs_from_the_lock_and_keeps_data_on_a_volume() -> None:
    assert "COPY requirements.lock" in DOCKERFILE
    assert re.search(r"pip install [^\n]*-c /tmp/requirements\.lock", DOCKERFILE)
    assert 'VOLUME ["/data"]' in DOCKERFILE


def _healthcheck_command() -> list[str]:
    match = re.search(r"HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])", DOCKERFILE)
    assert match, "the Dockerfile has no HEALTHCHECK CMD"
    command: list[str] = json.loads(match.group(1))
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


async def _exit_code(command: list[str], port: int) -> int:
    process = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, "CALLSIFT_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait()


async def test_the_healthcheck_passes_on_a_ready_service_and_fails_without_one(
    service: LiveService,
) -> None:
    command = _healthcheck_command()
    assert await _exit_code(command, service.server.port) == 0
    with bind_loopback() as nothing_listens:
        closed_port = nothing_listens.getsockname()[1]
    assert await _exit_code(command, closed_port) != 0


def test_compose_passes_every_setting_and_mounts_data() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    callsift = compose["services"]["callsift"]
    passed = {entry.partition("=")[0] for entry in callsift["environment"]}
    settings = {f"CALLSIFT_{name.upper()}" for name in Settings.model_fields}
    assert settings - passed == set()
    assert "callsift-data:/data" in callsift["volumes"]
    assert "callsift-data" in compose["volumes"]
