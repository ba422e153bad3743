"""Early events on the real stack: approvals that overtake their packet-ready are held.

Kafka orders nothing across topics, so an approval produced right after (or even before)
its packet-ready may be consumed first. The gate holds it for EARLY_EVENT_GRACE (set to
15 s for this module's service) and decides it the moment the revision is stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.steps import sample, settled
from tests.support.builders import approval, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

GRACE_SECONDS = 15
COUNT = 200
PARKED = sample("release_gate_parked_events")


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    return {"EARLY_EVENT_GRACE": f"PT{GRACE_SECONDS}S"}


def packets(count: int) -> list[dict[str, Any]]:
    return [packet(new_id("RP"), 1) for _ in range(count)]


async def all_released(bus: Bus, batch: list[dict[str, Any]]) -> None:
    wanted = {f"{p['packet_id']}@r1:released" for p in batch}
    await bus.wait_for(
        "release-manifest", lambda e: e["id"] in wanted, within=180, count=len(batch)
    )
    pids = {p["packet_id"] for p in batch}
    refused = bus.matching(
        "packet-lifecycle",
        lambda e: e["data"]["packet_id"] in pids and e["data"]["reason"] == "unknown-revision",
    )
    assert refused == []


async def test_approvals_produced_right_after_their_packets_are_all_released(bus: Bus) -> None:
    batch = packets(COUNT)
    for pkt in batch:
        await bus.send("packet-ready", pkt)
        await bus.send("approval-decision", approval(pkt))
    await all_released(bus, batch)


async def test_approvals_produced_two_seconds_before_their_packets_are_all_released(
    bus: Bus, service: ServiceProcess
) -> None:
    batch = packets(COUNT)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for pkt in batch:
        await bus.send("approval-decision", approval(pkt))
    await settled(service, {PARKED: float(COUNT)}, within=60)  # every one is held
    await asyncio.sleep(max(0.0, started + 2.0 - loop.time()))  # the scenario: 2 s later
    for pkt in batch:
        await bus.send("packet-ready", pkt)
    await all_released(bus, batch)
    await settled(service, {PARKED: 0.0}, within=30)


async def test_an_approval_whose_revision_never_arrives_is_refused_after_the_grace(
    bus: Bus, service: ServiceProcess
) -> None:
    ghost = packet(new_id("RP"), 1)
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    event_id = await bus.send("approval-decision", approval(ghost))
    await settled(service, {PARKED: 1.0}, within=30)
    [note] = await bus.wait_for(
        "packet-lifecycle", lambda e: e["data"]["cause_event_id"] == event_id, within=60
    )
    assert loop.time() - sent_at >= GRACE_SECONDS - 1  # not before its grace
    data = note["data"]
    assert (data["from_state"], data["to_state"], data["reason"]) == (
        None,
        None,
        "unknown-revision",
    )
    await settled(service, {PARKED: 0.0}, within=30)
