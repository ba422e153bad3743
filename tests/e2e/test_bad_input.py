"""Malformed input (docs/contract.md): dead-lettered with its kind and raw bytes; never blocking.

The broker refuses records over its 1 MiB message.max.bytes, so this module's service runs
with a 64 KiB MAX_MESSAGE_BYTES and the too-large case sends 100 KiB.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.steps import (
    conforming,
    dead_letter,
    marker,
    packet_view,
    raw_bytes,
    ready,
    ready_and_released,
)
from tests.support.builders import approval, envelope, feedback, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

MAX_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    return {"MAX_MESSAGE_BYTES": str(MAX_BYTES)}


def event_bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def ready_event(pkt: dict[str, Any], **changes: Any) -> dict[str, Any]:
    event = envelope("packet-ready", pkt, new_id("evt"), pkt["packet_id"])
    event.update(changes)
    return event


def invalid_json(pid: str) -> bytes:
    return b'{"specversion": "1.0", "id": "' + pid.encode() + b'", "data": {'


def not_a_cloudevent(pid: str) -> bytes:
    return event_bytes({"packet_id": pid, "hello": "this is JSON, but no CloudEvent"})


def unknown_type(pid: str) -> bytes:
    return event_bytes(ready_event(packet(pid, 1), type="packet-exploded"))


def unsupported_schema_version(pid: str) -> bytes:
    return event_bytes(ready_event(packet(pid, 1), schemaversion=2))


def invalid_data(pid: str) -> bytes:
    return event_bytes(ready_event({**packet(pid, 1), "surprise": "an unknown field"}))


def too_large(pid: str) -> bytes:
    pkt = packet(pid, 1, body={"filler": "x" * (100 * 1024)})
    return event_bytes(ready_event(pkt))


def hash_mismatch(pid: str) -> bytes:
    pkt = {**packet(pid, 1), "title": "edited after hashing"}
    return event_bytes(ready_event(pkt))


CASES: dict[str, Callable[[str], bytes]] = {
    "invalid-json": invalid_json,
    "not-a-cloudevent": not_a_cloudevent,
    "unknown-type": unknown_type,
    "unsupported-schema-version": unsupported_schema_version,
    "invalid-data": invalid_data,
    "too-large": too_large,
    "hash-mismatch": hash_mismatch,
}


@pytest.mark.parametrize("kind", list(CASES))
async def test_a_bad_packet_ready_is_dead_lettered_with_its_bytes_and_the_next_good_one_processed(
    bus: Bus, service: ServiceProcess, kind: str
) -> None:
    pid = new_id("RP")
    raw = CASES[kind](pid)
    await bus.send_raw("packet-ready", raw, key=pid)
    good = packet(pid, 1)
    await ready(bus, good)  # same key, so the same partition, right after the bad record
    dead = await dead_letter(bus, pid, kind)
    assert raw_bytes(dead) == raw
    assert dead["source_topic"] == "packet-ready"
    assert dead["error_detail"]
    assert isinstance(dead["partition"], int)
    assert isinstance(dead["offset"], int)
    assert dead["received_at"]
    [rev] = (await packet_view(service, pid))["revisions"]
    assert rev["state"] == "pending"
    assert rev["facts"][0]["data"]["packet"]["packet_hash"] == good["packet_hash"]


async def test_a_too_large_message_is_dead_lettered_whole_not_truncated(bus: Bus) -> None:
    pid = new_id("RP")
    raw = too_large(pid)
    assert len(raw) > MAX_BYTES
    await bus.send_raw("packet-ready", raw, key=pid)
    dead = await dead_letter(bus, pid, "too-large")
    assert len(raw_bytes(dead)) == len(raw)
    assert str(MAX_BYTES) in dead["error_detail"]


async def test_a_conflicting_revision_is_dead_lettered_revision_conflict_with_its_bytes(
    bus: Bus,
) -> None:
    pid = new_id("RP")
    await ready(bus, packet(pid, 1))
    other = packet(pid, 1, body={"customer": "Northwind", "draft": "rewritten"})
    raw = event_bytes(ready_event(other))
    await bus.send_raw("packet-ready", raw, key=pid)
    await ready(bus, packet(pid, 2))
    dead = await dead_letter(bus, pid, "revision-conflict")
    assert raw_bytes(dead) == raw


async def test_feedback_on_an_unknown_manifest_is_dead_lettered_and_the_next_good_one_recorded(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await ready_and_released(bus)
    pid = pkt["packet_id"]
    unknown = feedback(f"{new_id('RP')}@r1", "other")
    # The subject names the packet of manifest_id; the record key is the released packet's.
    subject = unknown["manifest_id"].split("@r")[0]
    raw = event_bytes(envelope("review-feedback", unknown, new_id("evt"), subject))
    await bus.send_raw("review-feedback", raw, key=pid)
    good = feedback(f"{pid}@r1", "wrong-audience")
    await bus.send("review-feedback", good, key=pid)
    closing = feedback(f"{pid}@r9", "other")  # r9 was never stored: unknown as well
    await bus.send("review-feedback", closing, key=pid)
    dead = await dead_letter(bus, pid, "unknown-manifest")
    assert raw_bytes(dead) == raw
    assert dead["source_topic"] == "review-feedback"

    def is_closing(e: dict[str, Any]) -> bool:
        return closing["feedback_id"].encode() in raw_bytes(e["data"])

    await bus.wait_for("dead-letter", is_closing)
    facts = (await packet_view(service, pid))["revisions"][0]["facts"]
    recorded = [f for f in facts if f["kind"] == "feedback"]
    assert [f["data"]["feedback_id"] for f in recorded] == [good["feedback_id"]]


@pytest.mark.parametrize(
    "topic", ["approval-decision", "evidence-changed", "forward-request", "review-feedback"]
)
async def test_invalid_json_on_every_other_input_topic_is_dead_lettered(
    bus: Bus, topic: str
) -> None:
    key = new_id("K")
    raw = b"\xff\xfe definitely not JSON " + key.encode()
    await bus.send_raw(topic, raw, key=key)
    dead = await dead_letter(bus, key, "invalid-json")
    assert dead["source_topic"] == topic
    assert raw_bytes(dead) == raw


async def test_a_packet_ready_event_on_the_approval_topic_is_an_unknown_type(bus: Bus) -> None:
    pid = new_id("RP")
    raw = event_bytes(ready_event(packet(pid, 1)))
    await bus.send_raw("approval-decision", raw, key=pid)
    dead = await dead_letter(bus, pid, "unknown-type")
    assert dead["source_topic"] == "approval-decision"
    assert raw_bytes(dead) == raw


async def test_an_approval_without_its_window_is_invalid_data(bus: Bus) -> None:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    decision = approval(pkt)
    del decision["valid_until"]
    raw = event_bytes(envelope("approval-decision", decision, new_id("evt"), pkt["packet_id"]))
    await bus.send_raw("approval-decision", raw, key=pkt["packet_id"])
    dead = await dead_letter(bus, pkt["packet_id"], "invalid-data")
    assert "valid_until" in dead["error_detail"]


async def test_a_record_without_a_value_is_dead_lettered_invalid_json(bus: Bus) -> None:
    key = new_id("K")
    await bus.producer.send_and_wait(bus.prefix + "packet-ready", None, key=key.encode())
    dead = await dead_letter(bus, key, "invalid-json")
    assert dead["raw_value"] == ""
    await marker(bus, "packet-ready", key=key)


async def test_unknown_extra_envelope_attributes_are_ignored(bus: Bus) -> None:
    pkt = packet(new_id("RP"), 1)
    event = ready_event(pkt, traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    await bus.send_raw("packet-ready", event_bytes(event), key=pkt["packet_id"])
    await bus.wait_for("packet-lifecycle", f"{pkt['packet_id']}@r1:lifecycle:pending")


async def test_every_output_event_of_this_module_matches_its_published_schema(bus: Bus) -> None:
    assert conforming(bus) == []
