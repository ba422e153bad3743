"""Review feedback (docs/contract.md): a reviewer's correction of a release, audited, counted.

review-feedback has no output event of its own; a later feedback for an unknown manifest
under the same record key (same partition) is the marker that says the earlier one is done.
"""

from tests.e2e.steps import (
    dead_letters,
    lifecycle_event,
    marker,
    packet_view,
    raw_bytes,
    ready,
    ready_and_released,
    sample,
    scrape,
)
from tests.support.builders import feedback, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

CORRECTIONS = "release_gate_review_corrections_total"


async def test_feedback_on_a_released_manifest_is_recorded_as_a_fact_and_counted(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await ready_and_released(bus)
    pid = pkt["packet_id"]
    before = await scrape(service)
    note = feedback(f"{pid}@r1", "missing-blocked-terms")
    await bus.send("review-feedback", note)
    await marker(bus, "review-feedback", key=pid)
    [rev] = (await packet_view(service, pid))["revisions"]
    [fact] = [f for f in rev["facts"] if f["kind"] == "feedback"]
    assert fact["reason"] == "missing-blocked-terms"
    assert fact["data"]["feedback_id"] == note["feedback_id"]
    assert fact["data"]["reviewer"] == "exec:cro"
    assert (fact["from_state"], fact["to_state"]) == ("released", "released")
    assert rev["state"] == "released"
    assert rev["chain"] == "ok"
    after = await scrape(service)
    key = sample(CORRECTIONS, correction="missing-blocked-terms")
    assert after[key] - before[key] == 1.0
    mine = note["feedback_id"].encode()
    assert [d for d in dead_letters(bus, pid) if mine in raw_bytes(d)] == []


async def test_the_same_feedback_twice_is_recorded_and_counted_once(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await ready_and_released(bus)
    pid = pkt["packet_id"]
    before = await scrape(service)
    note = feedback(f"{pid}@r1", "wrong-audience")
    await bus.send("review-feedback", note)
    await bus.send("review-feedback", note)  # another event id, the same feedback_id
    await marker(bus, "review-feedback", key=pid)
    facts = (await packet_view(service, pid))["revisions"][0]["facts"]
    assert len([f for f in facts if f["kind"] == "feedback"]) == 1
    after = await scrape(service)
    key = sample(CORRECTIONS, correction="wrong-audience")
    assert after[key] - before[key] == 1.0


async def test_feedback_on_a_superseded_release_is_still_recorded(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    await ready_and_released(bus, pid)
    await ready(bus, packet(pid, 2))
    await lifecycle_event(bus, pid, 1, "superseded")
    await bus.send("review-feedback", feedback(f"{pid}@r1", "stale-state"))
    await marker(bus, "review-feedback", key=pid)
    facts = (await packet_view(service, pid))["revisions"][0]["facts"]
    assert [f["reason"] for f in facts if f["kind"] == "feedback"] == ["stale-state"]


async def test_feedback_on_a_revision_that_was_never_released_is_an_unknown_manifest(
    bus: Bus, service: ServiceProcess
) -> None:
    """No manifest <pid>@r1 exists while r1 is pending: nothing was released to review."""
    pid = new_id("RP")
    await ready(bus, packet(pid, 1))
    before = await scrape(service)
    note = feedback(f"{pid}@r1", "other")
    await bus.send("review-feedback", note)
    await marker(bus, "review-feedback", key=pid)
    facts = (await packet_view(service, pid))["revisions"][0]["facts"]
    assert [f["kind"] for f in facts] == ["created"], "feedback recorded on an unreleased revision"
    after = await scrape(service)
    key = sample(CORRECTIONS, correction="other")
    assert after[key] == before[key]
    [dead] = [
        d
        for d in dead_letters(bus, pid, "unknown-manifest")
        if note["feedback_id"].encode() in raw_bytes(d)
    ]
    assert dead["source_topic"] == "review-feedback"
