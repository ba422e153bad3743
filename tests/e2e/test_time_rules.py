"""Time-driven transitions (docs/contract.md): release at valid_from, expiry, approval timeout."""

from datetime import timedelta

from service.domain.times import parse_time
from tests.e2e.steps import (
    blocked,
    lifecycle_event,
    ready,
    released,
    states,
    transitions,
)
from tests.support.builders import FAST_LANE, approval, forward, new_id, now, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

# The scheduler ticks every 0.2 s in the e2e service; allow for a loaded two-core machine.
LATE = timedelta(seconds=10)


async def test_an_approval_for_a_later_window_is_released_when_valid_from_comes(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    start = now() + timedelta(seconds=4)
    await bus.send("approval-decision", approval(pkt, valid_from=start))
    approved = await lifecycle_event(bus, pid, 1, "approved")
    assert (approved["from_state"], approved["reason"]) == ("pending", "approved")
    assert parse_time(approved["at"]) < start
    manifest = (await bus.wait_for("release-manifest", f"{pid}@r1:released"))[0]
    released_at = parse_time(manifest["data"]["released_at"])
    assert start <= released_at < start + LATE
    assert parse_time(manifest["data"]["valid_from"]) == start
    await lifecycle_event(bus, pid, 1, "released")  # another topic: it may come later
    assert transitions(bus, pid, 1) == [
        (None, "pending", "packet-ready"),
        ("pending", "approved", "approved"),
        ("approved", "released", "released"),
    ]
    assert (await states(service, pid)) == {1: "released"}


async def test_a_forward_before_valid_from_is_blocked_not_released(bus: Bus) -> None:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    await bus.send("approval-decision", approval(pkt, valid_from=now() + timedelta(hours=1)))
    await lifecycle_event(bus, pkt["packet_id"], 1, "approved")
    assert (await blocked(bus, forward(pkt, ["exec:cro"])))["reason"] == "not-released"


async def test_a_short_window_expires_on_time_and_later_forwards_are_blocked_expired(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    start = now() - timedelta(seconds=1)
    until = start + timedelta(seconds=5)
    await released(bus, pkt, valid_from=start, valid_until=until)
    expired = await lifecycle_event(bus, pid, 1, "expired")
    assert (expired["from_state"], expired["reason"]) == ("released", "validity-ended")
    assert until <= parse_time(expired["at"]) < until + LATE
    assert expired["cause_event_id"] == "scheduler"
    assert (await states(service, pid)) == {1: "expired"}
    data = await blocked(bus, forward(pkt, ["exec:cro"]))
    assert data["reason"] == "expired"


async def test_a_fast_lane_revision_left_undecided_expires_by_approval_timeout(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1, lane=FAST_LANE)
    pid = pkt["packet_id"]
    pending = await ready(bus, pkt)
    timed_out = await lifecycle_event(bus, pid, 1, "expired")
    assert (timed_out["from_state"], timed_out["reason"]) == ("pending", "approval-timeout")
    waited = parse_time(timed_out["at"]) - parse_time(pending["data"]["at"])
    assert timedelta(seconds=4) <= waited < timedelta(seconds=4) + LATE
    assert (await states(service, pid)) == {1: "expired"}
    # Terminal: a late approval is refused and changes nothing.
    await bus.send("approval-decision", approval(pkt))
    refusal = await bus.wait_for(
        "packet-lifecycle",
        lambda e: e["data"]["packet_id"] == pid and e["data"]["reason"] == "not-pending",
    )
    assert (refusal[0]["data"]["from_state"], refusal[0]["data"]["to_state"]) == (
        "expired",
        "expired",
    )


async def test_a_released_revision_superseded_by_a_newer_one_goes_released_to_superseded(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    first = packet(pid, 1)
    await ready(bus, first)
    await released(bus, first)
    second = packet(pid, 2)
    await ready(bus, second)
    change = await lifecycle_event(bus, pid, 1, "superseded")
    assert (change["from_state"], change["to_state"]) == ("released", "superseded")
    assert (change["reason"], change["superseded_by"]) == ("newer-revision", 2)
    assert (await blocked(bus, forward(first, ["exec:cro"])))["reason"] == "superseded"
    manifest = await released(bus, second)
    assert manifest["data"]["supersedes"] == [1]
    assert (await states(service, pid)) == {1: "superseded", 2: "released"}
