"""Fault runs against the real stack: each test gets its own topics, database and instances.

The broker and store tests SIGKILL servers other suites share; they hold the outage for a
few seconds and always restart the server (here too, should a test die half-way).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.chaos import stack
from tests.chaos.harness import FAST_PENDING, ChaosRun
from tests.support.builders import governance_yaml

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
NewRun = Callable[[str], Awaitable[ChaosRun]]
# Outside pytest's rotating tmp dirs (other suites rotate them away): a failed run's service
# logs stay here; a run that passes removes its own.
LOGS = Path(tempfile.gettempdir()) / "release-gate-chaos"


@pytest.fixture(scope="session")
def chaos_governance() -> Iterator[Path]:
    # Not in pytest's tmp dirs either: another suite's session may rotate them away while a
    # service started by this one still polls the file.
    path = LOGS / f"lanes-{os.getpid()}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(governance_yaml(f"PT{int(FAST_PENDING.total_seconds())}S"))
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def quiet_kafka_clients() -> None:
    """The harness's own clients complain through every broker outage, which is the point."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@pytest.fixture
async def chaos(chaos_governance: Path) -> AsyncIterator[NewRun]:
    """`run = await chaos("name")`: a fault run, opened; closed (and restored) after."""
    runs: list[ChaosRun] = []

    async def new(name: str) -> ChaosRun:
        run = ChaosRun(name, LOGS, chaos_governance, BOOTSTRAP, MONGODB_URL)
        runs.append(run)
        await run.open()
        return run

    try:
        yield new
    finally:
        for server in sorted(stack.DOWN):
            await stack.restore(server)
        for run in runs:
            await run.close()
