"""Redelivered input (the same event id again): nothing new is emitted, exactly once out.

Each redelivery is followed by a marker on the same topic and record key (so the same
partition, processed in order); once the marker's outcome arrives the redelivery was handled.
Counts here are raw: a re-emission with the same id would count, too.
"""

from tests.e2e.steps import copies, marker, packet_view, ready, ready_and_released
from tests.support.builders import approval, evidence_changed, forward, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


async def test_a_redelivered_approval_yields_no_second_manifest_or_lifecycle_event(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    decision = approval(pkt)
    event_id = await bus.send("approval-decision", decision)
    await bus.wait_for("release-manifest", f"{pid}@r1:released")
    await bus.send("approval-decision", decision, event_id=event_id)
    await marker(bus, "approval-decision", key=pid)
    assert copies(bus, "release-manifest", f"{pid}@r1:released") == 1
    assert copies(bus, "packet-lifecycle", f"{pid}@r1:lifecycle:approved") == 1
    assert copies(bus, "packet-lifecycle", f"{pid}@r1:lifecycle:released") == 1
    assert bus.matching("packet-lifecycle", lambda e: e["id"].startswith(f"{pid}@r1:refused")) == []
    [rev] = (await packet_view(service, pid))["revisions"]
    assert [f["kind"] for f in rev["facts"]] == ["created", "approved", "released"]


async def test_a_redelivered_packet_ready_yields_no_second_lifecycle_event(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    event_id = await bus.send("packet-ready", pkt)
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:pending")
    await bus.send("packet-ready", pkt, event_id=event_id)
    await marker(bus, "packet-ready", key=pid)
    assert copies(bus, "packet-lifecycle", f"{pid}@r1:lifecycle:pending") == 1
    [rev] = (await packet_view(service, pid))["revisions"]
    assert [f["kind"] for f in rev["facts"]] == ["created"]


async def test_a_redelivered_refused_approval_is_not_refused_twice(bus: Bus) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    decision = approval(pkt, audience=["user:someone@partner"])
    event_id = await bus.send("approval-decision", decision)
    refusal = f"{pid}@r1:refused:{event_id}"
    await bus.wait_for("packet-lifecycle", refusal)
    await bus.send("approval-decision", decision, event_id=event_id)
    await marker(bus, "approval-decision", key=pid)
    assert copies(bus, "packet-lifecycle", refusal) == 1


async def test_a_redelivered_forward_request_is_answered_once(bus: Bus) -> None:
    pkt = await ready_and_released(bus)
    pid = pkt["packet_id"]
    request = forward(pkt, ["exec:cro"])
    event_id = new_id("evt")
    await bus.send("forward-request", request, event_id=event_id)
    await bus.wait_for("forward-allowed", f"{request['request_id']}:allowed")
    await bus.send("forward-request", request, event_id=event_id)
    await marker(bus, "forward-request", key=pid)
    assert copies(bus, "forward-allowed", f"{request['request_id']}:allowed") == 1


async def test_a_redelivered_evidence_change_supersedes_once(bus: Bus) -> None:
    impact = new_id("INC")
    pkt = packet(new_id("RP"), 1, impact=(impact, "1"))
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    change = evidence_changed("incident-impact", impact, "2")
    event_id = await bus.send("evidence-changed", change)
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:superseded")
    await bus.send("evidence-changed", change, event_id=event_id)
    await marker(bus, "evidence-changed", key=f"incident-impact:{impact}")
    assert copies(bus, "packet-lifecycle", f"{pid}@r1:lifecycle:superseded") == 1
