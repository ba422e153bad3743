"""One running service per test module, with its own topics, database and consumer group."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.bus import Bus
from tests.support.events import governance_yaml
from tests.support.service import ServiceProcess

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}-"


@pytest.fixture(scope="module")
def governance_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gov") / "lanes.yaml"
    path.write_text(governance_yaml())
    return path


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    """Extra environment for the module's service; a module overrides it to tune settings."""
    return {}


@pytest.fixture(scope="module")
async def service(
    prefix: str,
    governance_file: Path,
    service_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ServiceProcess]:
    svc = ServiceProcess(
        tmp_path_factory.mktemp("svc"), prefix, governance_file, extra_env=service_env
    )
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture(scope="module")
async def bus(service: ServiceProcess, prefix: str) -> AsyncIterator[Bus]:
    b = Bus(BOOTSTRAP, prefix)
    await b.start()
    yield b
    await b.stop()
