"""Two real services for the whole security package, started side by side.

`service`/`bus`: the default settings. `tight_service`/`tight_bus`: MAX_MESSAGE_BYTES=65536,
so an over-size message (~100 KiB) is still one the broker accepts. Each has its own topic
prefix, database and consumer group. `attacked` collects the packet ids every attack
touched; test_after_attacks.py (always run last here) checks them once everything ran.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.security.attacks import TIGHT_LIMIT, security_governance
from tests.support import kafka
from tests.support.builders import approval, forward, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
HERE = Path(__file__).resolve().parent
LAST_MODULE = HERE / "test_after_attacks.py"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The after-attacks checks run once every other security test has run."""
    last = [item for item in items if item.path == LAST_MODULE]
    if not last:
        return
    rest = [item for item in items if item.path != LAST_MODULE]
    ours = [n for n, item in enumerate(rest) if HERE in item.path.parents]
    cut = ours[-1] + 1 if ours else len(rest)
    items[:] = [*rest[:cut], *last, *rest[cut:]]


@pytest.fixture(scope="package")
def governance_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sec-gov") / "lanes.yaml"
    path.write_text(security_governance())
    return path


@pytest.fixture(scope="package")
async def services(
    governance_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess]]:
    run = uuid.uuid4().hex[:8]
    workdir = tmp_path_factory.mktemp("sec-svc")
    default = ServiceProcess(workdir, f"sec-{run}-", governance_file)
    tight = ServiceProcess(
        workdir,
        f"sect-{run}-",
        governance_file,
        extra_env={"MAX_MESSAGE_BYTES": str(TIGHT_LIMIT)},
    )
    try:
        await asyncio.gather(default.start(), tight.start())
        yield default, tight
    finally:
        await asyncio.gather(default.stop(), tight.stop())
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        for svc in (default, tight):
            await kafka.delete_topics(bootstrap, prefix=svc.env["TOPIC_PREFIX"])


async def _warm_bus(service: ServiceProcess) -> AsyncIterator[Bus]:
    """A started bus, once the service consumes every input topic the tests use.

    /readyz waits for the consumers' group joins; awaiting one processed event per topic
    here also keeps the tests' 30 s budgets about the attacks, not about the first batch.
    """
    bus = Bus(BOOTSTRAP, service.env["TOPIC_PREFIX"])
    await bus.start()
    try:
        pkt = packet(new_id("WARM"), 1)
        pid = pkt["packet_id"]
        request = forward(packet(new_id("WARM"), 1), ["exec:cro"])
        await bus.send("packet-ready", pkt, event_id=new_id("evt"))
        await bus.send("forward-request", request, event_id=new_id("evt"))
        await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:pending", within=90)
        await bus.wait_for("blocked-forward", f"{request['request_id']}:blocked", within=90)
        await bus.send("approval-decision", approval(pkt, "reject"), event_id=new_id("evt"))
        await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:rejected", within=90)
        yield bus
    finally:
        await bus.stop()
    assert bus.conflicts() == [], "one id, two events: a consumer dropping duplicates loses one"


@pytest.fixture(scope="package")
def service(services: tuple[ServiceProcess, ServiceProcess]) -> ServiceProcess:
    return services[0]


@pytest.fixture(scope="package")
def tight_service(services: tuple[ServiceProcess, ServiceProcess]) -> ServiceProcess:
    return services[1]


@pytest.fixture(scope="package")
async def bus(service: ServiceProcess) -> AsyncIterator[Bus]:
    async for b in _warm_bus(service):
        yield b


@pytest.fixture(scope="package")
async def tight_bus(tight_service: ServiceProcess) -> AsyncIterator[Bus]:
    async for b in _warm_bus(tight_service):
        yield b


@pytest.fixture(scope="package")
def attacked() -> set[str]:
    """Packet ids an attack was aimed at: none of them may ever get a release-manifest."""
    return set()
