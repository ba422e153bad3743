"""Hostile input: each message is dead-lettered with its specific error_kind, its raw bytes
kept (base64) in raw_value, and a good event on the same key is still processed after it.

The attacked packet id is then created by a good revision: the attack left no trace in its
audit trail (a tampered r1 does not make the good r1 a revision-conflict, for example).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from service.domain.canonical import option_set_hash, packet_hash
from tests.security.attacks import (
    audit,
    audited,
    dead_lettered,
    marked_packet,
    produce,
    raw_event,
    ready,
    rejected_by_owner,
)
from tests.support.builders import approval, envelope, forward, new_id
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

Packet = dict[str, Any]
Build = Callable[[Packet], bytes | None]
DEEP = 100_000


def _changed(change: Callable[[Packet], None], rehash: bool = True) -> Build:
    """packet-ready for a copy of the packet changed by `change`, hashes recomputed."""

    def build(pkt: Packet) -> bytes:
        data = copy.deepcopy(pkt)
        change(data)
        if rehash:
            data["option_set_hash"] = option_set_hash(data["options"])
            data["packet_hash"] = packet_hash({k: v for k, v in data.items() if k != "packet_hash"})
        return raw_event("packet-ready", data, pkt["packet_id"])

    return build


def _envelope(**changes: Any) -> Build:
    """A packet-ready whose envelope (not its data) is changed."""

    def build(pkt: Packet) -> bytes:
        event = envelope("packet-ready", pkt, new_id("evt"), pkt["packet_id"])
        event.update(changes)
        return json.dumps(event).encode()

    return build


def _spliced(old: bytes, new: bytes) -> Build:
    """A valid packet-ready with one byte sequence replaced: for what json.dumps never writes."""

    def build(pkt: Packet) -> bytes:
        value = raw_event("packet-ready", pkt, pkt["packet_id"])
        assert old in value
        return value.replace(old, new, 1)

    return build


def _nested(levels: int) -> dict[str, Any]:
    body: dict[str, Any] = {"leaf": "x"}
    for _ in range(levels - 1):
        body = {"a": body}
    return body


def _set(key: str, value: Any) -> Callable[[Packet], None]:
    return lambda data: data.__setitem__(key, value)


def _copies(key: str, field: str, count: int) -> Callable[[Packet], None]:
    """`count` entries of the list `key`, made distinct by `field`."""
    return lambda data: data.__setitem__(
        key, [{**data[key][0], field: f"{field}-{n}"} for n in range(count)]
    )


def _tampered_body(data: Packet) -> None:
    data["body"]["secret_note"] += " (edited after hashing)"


def _deep_body(pkt: Packet) -> bytes:
    value = raw_event("packet-ready", pkt, pkt["packet_id"])
    deep = b"[" * DEEP + b"]" * DEEP
    return value.replace(b'"body": {', b'"body": {"deep": ' + deep + b", ", 1)


# name -> (build the attack from a good packet, error_kind, a phrase of error_detail)
PACKET_READY_ATTACKS: dict[str, tuple[Build, str, str]] = {
    "100k levels of nested arrays": (
        lambda _pkt: b"[" * DEEP + b"]" * DEEP,
        "invalid-json",
        "nesting deeper than 64",
    ),
    "a packet body nested 100k levels": (_deep_body, "invalid-json", "nesting deeper than 64"),
    "an extension attribute nested 70 levels": (
        _envelope(padding=_nested(70)),
        "invalid-json",
        "nesting deeper than 64",
    ),
    "a packet body nested 40 levels": (
        _changed(_set("body", _nested(40))),
        "invalid-data",
        "nesting deeper than 32 levels",
    ),
    "11 options": (
        _changed(_copies("options", "option_id", 11)),
        "invalid-data",
        "data.options: list has 11 items, at most 10",
    ),
    "51 blocked requests": (
        _changed(_copies("blocked_requests", "term_id", 51)),
        "invalid-data",
        "data.blocked_requests: list has 51 items, at most 50",
    ),
    "a title of 2001 characters": (
        _changed(_set("title", "t" * 2001)),
        "invalid-data",
        "data.title",
    ),
    "invalid UTF-8": (_spliced(b"Outage", b"Out\xffage"), "invalid-json", "not UTF-8"),
    "a lone surrogate escape": (
        _spliced(b'"Northwind"', b'"North\\ud800wind"'),
        "invalid-json",
        "lone surrogate",
    ),
    "a duplicate key": (
        _spliced(b'"revision": 1', b'"revision": 1, "revision": 2'),
        "invalid-json",
        "duplicate key 'revision'",
    ),
    "NaN": (_spliced(b'"draft": 1', b'"draft": NaN'), "invalid-json", "NaN"),
    "revision as a string": (
        _changed(_set("revision", "1")),
        "invalid-data",
        "data.revision: Input should be a valid integer",
    ),
    "an unknown field in data": (
        _changed(_set("approved", True)),
        "invalid-data",
        "data.approved: unknown field",
    ),
    "the body changed after hashing": (
        _changed(_tampered_body, rehash=False),
        "hash-mismatch",
        "packet_hash",
    ),
    "a subject naming another packet": (
        _envelope(subject="RP-someone-else"),
        "invalid-data",
        "subject 'RP-someone-else'",
    ),
    "an unknown event type": (
        _envelope(type="packet-purged"),
        "unknown-type",
        "'packet-purged' (not an input type)",
    ),
    "another input type on this topic": (
        _envelope(type="approval-decision"),
        "unknown-type",
        "'approval-decision' (an input type)",
    ),
    "schemaversion 2": (_envelope(schemaversion=2), "unsupported-schema-version", "2"),
    "schemaversion 0": (_envelope(schemaversion=0), "unsupported-schema-version", "0"),
    "schemaversion as a string": (
        _envelope(schemaversion="1"),
        "not-a-cloudevent",
        "schemaversion",
    ),
    "data null": (_envelope(data=None), "not-a-cloudevent", "data"),
    "not a CloudEvent": (lambda _pkt: b'{"hello": "world"}', "not-a-cloudevent", "specversion"),
    "a null value (tombstone)": (lambda _pkt: None, "invalid-json", "no value"),
    "an empty value": (lambda _pkt: b"", "invalid-json", "not JSON"),
    "a JSON array": (
        lambda pkt: json.dumps([json.loads(raw_event("packet-ready", pkt, "x"))]).encode(),
        "invalid-json",
        "top level is a JSON array",
    ),
    "a JSON string": (lambda _pkt: b'"packet-ready"', "invalid-json", "top level is a JSON string"),
}


@pytest.mark.parametrize("name", list(PACKET_READY_ATTACKS))
async def test_a_hostile_packet_ready_is_dead_lettered_with_its_kind_and_leaves_no_trace(
    name: str, bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    build, kind, detail = PACKET_READY_ATTACKS[name]
    pkt = marked_packet(new_id("RP"))
    pid = pkt["packet_id"]
    attacked.add(pid)

    where, _ = await dead_lettered(bus, "packet-ready", build(pkt), pid, kind, detail)

    assert (await ready(bus, pkt)).partition == where.partition
    facts = await audit(service, pid)
    assert [(f["kind"], f["to_state"]) for f in facts] == [("created", "pending")]
    assert facts[0]["data"]["packet"]["packet_hash"] == pkt["packet_hash"]


async def test_a_conflicting_copy_of_a_stored_revision_is_dead_lettered(
    bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    pkt = marked_packet(new_id("RP"))
    pid = pkt["packet_id"]
    attacked.add(pid)
    await ready(bus, pkt)
    conflicting = _changed(_tampered_body)(pkt)

    where, _ = await dead_lettered(
        bus, "packet-ready", conflicting, pid, "revision-conflict", "another packet_hash"
    )

    assert (await ready(bus, marked_packet(pid, 2))).partition == where.partition
    first = [f for f in await audit(service, pid) if f["revision"] == 1]
    assert [(f["kind"], f["reason"]) for f in first] == [
        ("created", "packet-ready"),
        ("superseded", "newer-revision"),
    ]
    assert first[0]["data"]["packet"]["packet_hash"] == pkt["packet_hash"]


def _approval_with(**changes: Any) -> Callable[[Packet], dict[str, Any]]:
    return lambda pkt: {**approval(pkt), **changes}


APPROVAL_ATTACKS: dict[str, tuple[Callable[[Packet], dict[str, Any]], str]] = {
    "audience as a string": (
        _approval_with(audience="exec:cro"),
        "data.audience: Input should be a valid list",
    ),
    "revision as a string": (_approval_with(revision="1"), "data.revision"),
    "an empty signature": (_approval_with(signature=""), "data.signature"),
    "a signature of 257 characters": (_approval_with(signature="A" * 257), "data.signature"),
    "an unknown field in data": (_approval_with(admin=True), "data.admin: unknown field"),
    "approve without a window": (
        lambda pkt: {k: v for k, v in approval(pkt).items() if k != "valid_until"},
        "approve requires valid_until",
    ),
}


@pytest.mark.parametrize("name", list(APPROVAL_ATTACKS))
async def test_a_malformed_approval_is_dead_lettered_as_invalid_data(
    name: str, bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    build, detail = APPROVAL_ATTACKS[name]
    pkt = marked_packet(new_id("RP"))
    pid = pkt["packet_id"]
    attacked.add(pid)
    await ready(bus, pkt)
    value = raw_event("approval-decision", build(pkt), pid)

    where, _ = await dead_lettered(bus, "approval-decision", value, pid, "invalid-data", detail)

    assert (await rejected_by_owner(bus, pkt)).partition == where.partition
    facts = await audit(service, pid)
    assert [f["kind"] for f in facts] == ["created", "rejected"]


async def test_a_forward_request_to_10k_recipients_is_blocked_listed_within_limits_and_audited(
    bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    pkt = marked_packet(new_id("RP"))
    pid = pkt["packet_id"]
    attacked.add(pid)
    many = forward(pkt, [f"exec:recipient-{n}" for n in range(10_000)])
    event_id = new_id("evt")
    value = raw_event("forward-request", many, pid, event_id)
    where = await produce(bus, "forward-request", value, pid)
    [attempt] = await bus.wait_for("blocked-forward", f"{many['request_id']}:blocked")
    assert attempt["data"]["reason"] == "unknown-packet"  # after its grace: never stored
    assert attempt["data"]["recipients"] == [f"exec:recipient-{n}" for n in range(50)]
    await audited(service, pid, event_id, "forward-blocked", "unknown-packet")

    good = forward(pkt, ["exec:cro"])
    value = raw_event("forward-request", good, pid)
    assert (await produce(bus, "forward-request", value, pid)).partition == where.partition
    [blocked] = await bus.wait_for("blocked-forward", f"{good['request_id']}:blocked")
    assert blocked["data"]["reason"] == "unknown-packet"
    assert bus.matching("forward-allowed", lambda e: e["data"]["packet_id"] == pid) == []
