"""Intake (docs/contract.md, packet-ready rows): pending, superseded, duplicates, conflicts."""

import json

from tests.e2e.steps import (
    dead_letter,
    lifecycle_event,
    marker,
    packet_view,
    raw_bytes,
    ready,
    transitions,
)
from tests.support.builders import FAST_LANE, LANE, new_id, packet, rehash
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


async def test_a_new_revision_is_stored_pending(bus: Bus, service: ServiceProcess) -> None:
    pid = new_id("RP")
    pkt = packet(pid, 1)
    event = await ready(bus, pkt)
    data = event["data"]
    assert (data["from_state"], data["to_state"], data["reason"]) == (
        None,
        "pending",
        "packet-ready",
    )
    assert data["superseded_by"] is None
    assert event["subject"] == pid
    view = await packet_view(service, pid)
    [rev] = view["revisions"]
    assert (rev["revision"], rev["state"], rev["manifest_id"]) == (1, "pending", f"{pid}@r1")
    assert rev["facts"][0]["data"]["packet"]["packet_hash"] == pkt["packet_hash"]


async def test_a_newer_revision_supersedes_every_older_non_terminal_one(bus: Bus) -> None:
    pid = new_id("RP")
    await ready(bus, packet(pid, 1))
    await ready(bus, packet(pid, 2))
    first = await lifecycle_event(bus, pid, 1, "superseded")
    assert (first["from_state"], first["reason"], first["superseded_by"]) == (
        "pending",
        "newer-revision",
        2,
    )
    await ready(bus, packet(pid, 3))
    second = await lifecycle_event(bus, pid, 2, "superseded")
    assert (second["from_state"], second["reason"], second["superseded_by"]) == (
        "pending",
        "newer-revision",
        3,
    )
    # r1 was terminal already: it is not superseded a second time by r3.
    assert transitions(bus, pid, 1) == [
        (None, "pending", "packet-ready"),
        ("pending", "superseded", "newer-revision"),
    ]
    assert transitions(bus, pid, 3) == [(None, "pending", "packet-ready")]


async def test_a_revision_arriving_after_a_newer_one_is_stored_superseded_out_of_order(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    await ready(bus, packet(pid, 2))
    await bus.send("packet-ready", packet(pid, 1))
    late = await lifecycle_event(bus, pid, 1, "superseded")
    assert (late["from_state"], late["reason"], late["superseded_by"]) == (None, "out-of-order", 2)
    view = await packet_view(service, pid)
    assert [(r["revision"], r["state"]) for r in view["revisions"]] == [
        (1, "superseded"),
        (2, "pending"),
    ]
    assert transitions(bus, pid, 2) == [(None, "pending", "packet-ready")]


async def test_the_same_revision_again_with_the_same_hash_is_a_no_op(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    pkt = packet(pid, 1)
    await ready(bus, pkt)
    await bus.send("packet-ready", pkt)  # a new event id, the same revision and hash
    await marker(bus, "packet-ready", key=pid)
    assert transitions(bus, pid, 1) == [(None, "pending", "packet-ready")]
    assert not [e for e in bus.matching("dead-letter", lambda e: e["data"]["key"] == pid)]
    view = await packet_view(service, pid)
    assert [f["kind"] for f in view["revisions"][0]["facts"]] == ["created"]


async def test_the_same_revision_with_another_hash_is_a_revision_conflict_and_changes_nothing(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    pkt = packet(pid, 1)
    await ready(bus, pkt)
    before = await packet_view(service, pid)
    other = rehash(pkt, title="A different document under the same revision number")
    await bus.send("packet-ready", other)
    dead = await dead_letter(bus, pid, "revision-conflict")
    assert dead["source_topic"] == "packet-ready"
    assert json.loads(raw_bytes(dead))["data"] == other
    after = await packet_view(service, pid)
    assert after == before
    [rev] = after["revisions"]
    assert rev["state"] == "pending"
    assert rev["facts"][0]["data"]["packet"]["packet_hash"] == pkt["packet_hash"]
    assert transitions(bus, pid, 1) == [(None, "pending", "packet-ready")]


async def test_a_packet_for_an_unknown_lane_is_stored_rejected(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    await bus.send("packet-ready", packet(pid, 1, lane="no-such-lane"))
    rejected = await lifecycle_event(bus, pid, 1, "rejected")
    assert (rejected["from_state"], rejected["reason"]) == (None, "unknown-lane")
    assert "no-such-lane" in rejected["detail"]
    assert (await packet_view(service, pid))["revisions"][0]["state"] == "rejected"


async def test_a_packet_missing_required_evidence_is_rejected_naming_the_missing_kinds(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    cites = [{"kind": "renewal", "ref": "RN-1", "version": "1"}]
    await bus.send("packet-ready", packet(pid, 1, evidence=cites))
    rejected = await lifecycle_event(bus, pid, 1, "rejected")
    assert (rejected["from_state"], rejected["reason"]) == (None, "evidence-incomplete")
    assert "incident-impact" in rejected["detail"]
    assert "contract" in rejected["detail"]
    assert (await packet_view(service, pid))["revisions"][0]["state"] == "rejected"


async def test_a_packet_missing_one_required_kind_names_only_that_kind(bus: Bus) -> None:
    pid = new_id("RP")
    cites = [{"kind": "contract", "ref": "MSA-NW-2023", "version": "3"}]
    await bus.send("packet-ready", packet(pid, 1, evidence=cites))
    rejected = await lifecycle_event(bus, pid, 1, "rejected")
    assert rejected["reason"] == "evidence-incomplete"
    assert "incident-impact" in rejected["detail"]
    assert "contract" not in rejected["detail"]


async def test_packets_of_both_lanes_are_accepted(bus: Bus) -> None:
    for lane in (LANE, FAST_LANE):
        event = await ready(bus, packet(new_id("RP"), 1, lane=lane))
        assert event["data"]["to_state"] == "pending"
