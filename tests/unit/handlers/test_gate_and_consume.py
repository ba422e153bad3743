"""Handlers over the in-memory store: append, publish, race, dead-letter, outage retry."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from aiokafka import ConsumerRecord
from pymongo.errors import AutoReconnect

from service.adapters.memory_store import MemoryStore
from service.adapters.store import Log
from service.domain.commands import PacketReady
from service.domain.facts import Fact
from service.entrypoints.consume import process_partition
from service.handlers import HANDLERS
from tests.support.builders import encode, envelope
from tests.unit.domain.builders import T0, packet_data
from tests.unit.handlers.fakes import runtime


def record(value: bytes, topic: str = "packet-ready", offset: int = 0) -> Any:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"RP-1", value, None, len(value), len(value), [])


def ready_event(revision: int = 1, event_id: str = "evt-1") -> bytes:
    return encode(envelope("packet-ready", packet_data(revision), event_id, time=T0))


async def one(rt: Any, rec: Any) -> str:
    [outcome] = await process_partition(rt, "packet-ready", HANDLERS["packet-ready"], [rec])
    return outcome


def value(rt: Any, name: str, **labels: str) -> float:
    sample = rt.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if sample is None else float(sample)


async def test_a_command_is_appended_projected_published_and_marked() -> None:
    rt, publisher, _ = runtime()
    decision = await rt.gate.decide_one("RP-1", PacketReady("evt-1", packet_data(1)))
    assert decision.outcome == "applied"
    assert publisher.ids("packet-lifecycle") == ["RP-1@r1:lifecycle:pending"]
    assert await rt.store.count_unpublished() == 0
    assert await rt.store.state_counts() == {"pending": 1}


async def test_a_lost_append_race_reloads_and_decides_again() -> None:
    store = MemoryStore()
    rt, _, _ = runtime(store)
    rival_done = False
    original = store.append

    async def racing_append(facts: list[Fact], logs: Any = None) -> None:
        nonlocal rival_done
        if not rival_done:  # another instance stores the same revision first
            rival_done = True
            other, _, _ = runtime(MemoryStore())
            await other.gate.decide_one("RP-1", PacketReady("evt-rival", packet_data(1)))
            await original(
                [replace(f, cause_event_id="evt-rival") for f in other.store.facts.values()]
            )  # type: ignore[attr-defined]
        await original(facts, logs)

    store.append = racing_append  # type: ignore[method-assign]
    decision = await rt.gate.decide_one("RP-1", PacketReady("evt-1", packet_data(1)))
    assert decision.outcome == "duplicate"
    assert value(rt, "release_gate_store_conflicts_total") == 1.0
    assert len(store.facts) == 1


async def test_bad_input_is_dead_lettered_with_its_reason_and_counted() -> None:
    rt, publisher, _ = runtime()
    outcome = await one(rt, record(b"{nope"))
    assert outcome == "dead-lettered"
    [(topic, key, event)] = publisher.sent
    assert topic == "dead-letter" and key == "RP-1"
    assert event["data"]["error_kind"] == "invalid-json"
    assert event["id"] == "dead-letter:packet-ready:0:0"
    labels = {"source_topic": "packet-ready", "error_kind": "invalid-json"}
    assert value(rt, "release_gate_dead_letters_total", **labels) == 1.0


async def test_a_store_outage_is_retried_not_dead_lettered() -> None:
    store = MemoryStore()
    rt, publisher, _ = runtime(store)
    original = store.load_packets
    failures = iter([True, True])

    async def flaky(packet_ids: list[str]) -> dict[str, Log]:
        if next(failures, False):
            raise AutoReconnect("store restarting")
        return await original(packet_ids)

    store.load_packets = flaky  # type: ignore[method-assign]
    outcome = await one(rt, record(ready_event()))
    assert outcome == "applied"
    assert publisher.ids("dead-letter") == []
    assert value(rt, "release_gate_infra_retries_total", dependency="store") == 2.0
    assert rt.health.failing == {}


async def test_a_revision_conflict_is_dead_lettered_and_the_stored_revision_kept() -> None:
    rt, publisher, _ = runtime()
    await one(rt, record(ready_event()))
    changed = json.loads(ready_event(event_id="evt-2"))
    other = packet_data(1, body={"customer": "someone else"})
    changed["data"] = other
    outcome = await one(rt, record(json.dumps(changed).encode(), offset=1))
    assert outcome == "dead-lettered"
    assert publisher.sent[-1][2]["data"]["error_kind"] == "revision-conflict"
    [fact] = await rt.store.load_packet("RP-1")
    assert fact.data["packet"]["packet_hash"] == packet_data(1)["packet_hash"]


async def test_a_batch_decides_in_order_appends_once_and_publishes_in_that_order() -> None:
    store = MemoryStore()
    rt, publisher, _ = runtime(store)
    calls = 0
    original = store.append

    async def counting(facts: list[Fact], logs: Any = None) -> None:
        nonlocal calls
        calls += 1
        await original(facts, logs)

    store.append = counting  # type: ignore[method-assign]
    items = [("RP-1", PacketReady(f"evt-{r}", packet_data(r))) for r in (1, 2, 3)]
    decisions = await rt.gate.decide_batch(items)
    assert [d.outcome for d in decisions] == ["applied"] * 3
    assert calls == 1
    assert publisher.ids("packet-lifecycle") == [
        "RP-1@r1:lifecycle:pending",
        "RP-1@r1:lifecycle:superseded",
        "RP-1@r2:lifecycle:pending",
        "RP-1@r2:lifecycle:superseded",
        "RP-1@r3:lifecycle:pending",
    ]


async def test_a_batch_that_loses_a_race_midway_redecides_the_rest_on_the_reloaded_log() -> None:
    store = MemoryStore()
    rt, _, _ = runtime(store)
    rival, _, _ = runtime(store)
    await rt.gate.decide_one("RP-1", PacketReady("evt-1", packet_data(1)))
    original = store.append
    raced = False

    async def racing(facts: list[Fact], logs: Any = None) -> None:
        nonlocal raced
        if not raced:  # a rival supersedes r1 with r2 between our load and our append
            raced = True
            await rival.gate.decide_one("RP-1", PacketReady("evt-2", packet_data(2)))
        await original(facts, logs)

    store.append = racing  # type: ignore[method-assign]
    items = [
        ("RP-9", PacketReady("evt-9", packet_data(1, packet_id="RP-9"))),
        ("RP-1", PacketReady("evt-3", packet_data(3))),
    ]
    decisions = await rt.gate.decide_batch(items)
    assert [d.outcome for d in decisions] == ["applied", "applied"]
    assert value(rt, "release_gate_store_conflicts_total") == 1.0
    states = {f.id: f.to_state for f in store.facts.values()}
    assert states["RP-1@r2/2"] == "superseded" and states["RP-1@r3/1"] == "pending"
    assert await store.count_unpublished() == 0
