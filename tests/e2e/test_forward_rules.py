"""Forward requests (docs/contract.md): allowed inside the audience of a live release only."""

from tests.e2e.steps import (
    blocked,
    forward_outcome,
    lifecycle_event,
    marker,
    packet_view,
    ready,
    ready_and_released,
)
from tests.support.builders import AUDIENCE, forward, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


async def test_a_forward_inside_the_approved_audience_is_allowed(bus: Bus) -> None:
    pkt = await ready_and_released(bus)
    request = forward(pkt, AUDIENCE)
    topic, data = await forward_outcome(bus, request)
    assert topic == "forward-allowed"
    assert data["request_id"] == request["request_id"]
    assert data["recipients"] == AUDIENCE
    assert data["blocked_recipients"] == []
    assert data["reason"] is None
    assert data["manifest_id"] == f"{pkt['packet_id']}@r1"


async def test_a_forward_with_any_outsider_is_blocked_whole_naming_only_the_outsiders(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await ready_and_released(bus)
    pid = pkt["packet_id"]
    recipients = ["exec:cro", "user:someone@partner", "exec:general-counsel", "exec:vp-support"]
    request = forward(pkt, recipients)
    data = await blocked(bus, request)
    assert data["reason"] == "outside-audience"
    # exec:vp-support is authorized in the lane but was not in the approved audience.
    assert data["blocked_recipients"] == ["user:someone@partner", "exec:vp-support"]
    assert data["recipients"] == recipients
    await marker(bus, "forward-request", key=pid)
    allowed = bus.matching(
        "forward-allowed", lambda e: e["data"]["request_id"] == request["request_id"]
    )
    assert allowed == [], "nothing of a blocked request may be forwarded"
    [rev] = (await packet_view(service, pid))["revisions"]
    assert rev["state"] == "released"
    assert [f["kind"] for f in rev["facts"]][-1] == "forward-blocked"


async def test_a_forward_of_a_revision_not_yet_released_is_blocked_not_released(bus: Bus) -> None:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    data = await blocked(bus, forward(pkt, ["exec:cro"]))
    assert data["reason"] == "not-released"
    assert data["blocked_recipients"] == ["exec:cro"]


async def test_a_forward_of_a_superseded_revision_is_blocked_superseded(bus: Bus) -> None:
    pid = new_id("RP")
    first = await ready_and_released(bus, pid)
    await ready(bus, packet(pid, 2))
    await lifecycle_event(bus, pid, 1, "superseded")
    data = await blocked(bus, forward(first, ["exec:cro"]))
    assert data["reason"] == "superseded"


async def test_a_forward_for_a_packet_never_seen_is_blocked_unknown_packet(bus: Bus) -> None:
    data = await blocked(bus, forward(packet(new_id("RP"), 1), ["exec:cro"]))
    assert data["reason"] == "unknown-packet"


async def test_a_forward_for_a_revision_never_seen_is_blocked_revision_mismatch(bus: Bus) -> None:
    pkt = await ready_and_released(bus)
    data = await blocked(bus, forward(pkt, ["exec:cro"], revision=2))
    assert data["reason"] == "revision-mismatch"
    assert (data["revision"], data["manifest_id"]) == (2, f"{pkt['packet_id']}@r2")


async def test_a_forward_naming_another_manifest_is_blocked_manifest_mismatch(bus: Bus) -> None:
    pkt = await ready_and_released(bus)
    pid = pkt["packet_id"]
    wrong_revision = forward(pkt, ["exec:cro"], manifest_id=f"{pid}@r7")
    assert (await blocked(bus, wrong_revision))["reason"] == "manifest-mismatch"
    other_packet = forward(pkt, ["exec:cro"], manifest_id=f"{new_id('RP')}@r1")
    assert (await blocked(bus, other_packet))["reason"] == "manifest-mismatch"


async def test_the_same_request_id_again_is_answered_once(bus: Bus) -> None:
    pkt = await ready_and_released(bus)
    request = forward(pkt, ["exec:cro"])
    topic, _ = await forward_outcome(bus, request)
    assert topic == "forward-allowed"
    await bus.send("forward-request", request)  # a new event id, the same request
    await marker(bus, "forward-request", key=pkt["packet_id"])
    rid = request["request_id"]
    assert len(bus.matching("forward-allowed", lambda e: e["data"]["request_id"] == rid)) == 1
    assert bus.matching("blocked-forward", lambda e: e["data"]["request_id"] == rid) == []
