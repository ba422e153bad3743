"""One running service per test module, with its own topics, database and consumer group."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.settings import INPUT_TOPICS
from tests.e2e.steps import marker
from tests.support import kafka
from tests.support.builders import governance_yaml
from tests.support.bus import Bus
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
    # Each of the five consumers joining the group is a rebalance the others notice on their
    # next heartbeat: a short interval brings the group up in about a second instead of ~12.
    env = {"HEARTBEAT_INTERVAL_MS": "300", **service_env}
    svc = ServiceProcess(tmp_path_factory.mktemp("svc"), prefix, governance_file, extra_env=env)
    await svc.start()
    yield svc
    await svc.stop()
    await kafka.delete_topics(BOOTSTRAP, prefix=prefix)


@pytest.fixture(scope="module")
def warm_up() -> bool:
    """Await one processed event per input topic before the module's first test.

    /readyz already waits for the five consumers' first group joins; this also proves the
    whole path (consume, store, publish) works before a test's own budget starts. A module
    whose counters must stay pristine (metrics) overrides this with False.
    """
    return True


@pytest.fixture(scope="module")
async def bus(service: ServiceProcess, prefix: str, warm_up: bool) -> AsyncIterator[Bus]:
    b = Bus(BOOTSTRAP, prefix)
    await b.start()
    if warm_up:
        key = f"warm-up-{uuid.uuid4().hex[:8]}"
        await asyncio.gather(*(marker(b, topic, key) for topic in INPUT_TOPICS))
    yield b
    await b.stop()
    assert b.conflicts() == [], "one id, two events: a consumer dropping duplicates loses one"
