"""Approval decisions (docs/contract.md): release at once, rejection, and every refusal reason."""

from datetime import timedelta
from typing import Any

from service.domain.canonical import manifest_hash
from tests.e2e.steps import (
    conforming,
    distinct,
    lifecycle_event,
    of_packet,
    packet_view,
    ready,
    ready_and_released,
    refused,
    released,
    states,
    transitions,
)
from tests.support.builders import (
    AUDIENCE,
    FAST_LANE,
    OWNER,
    SECOND_OWNER,
    SECOND_SEED,
    STRANGER_SEED,
    approval,
    new_id,
    now,
    packet,
    rehash,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


async def pending_packet(bus: Bus, **kwargs: Any) -> dict[str, Any]:
    pkt = packet(new_id("RP"), 1, **kwargs)
    await ready(bus, pkt)
    return pkt


def assert_refusal(data: dict[str, Any], state: str | None, reason: str) -> None:
    assert (data["from_state"], data["to_state"], data["reason"]) == (state, state, reason)
    assert data["superseded_by"] is None


async def assert_still_pending(bus: Bus, service: ServiceProcess, pkt: dict[str, Any]) -> None:
    pid = pkt["packet_id"]
    assert (await states(service, pid)) == {1: "pending"}
    assert [t for t in transitions(bus, pid, 1) if t[0] != t[1]] == [
        (None, "pending", "packet-ready")
    ]


async def test_an_approval_whose_window_has_begun_is_approved_and_released_at_once(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await pending_packet(bus)
    pid = pkt["packet_id"]
    decision = approval(pkt, audience=["exec:cro", "exec:vp-support"])
    await bus.send("approval-decision", decision)
    manifest_event = (await bus.wait_for("release-manifest", f"{pid}@r1:released"))[0]
    await lifecycle_event(bus, pid, 1, "released")  # another topic: it may come later
    assert transitions(bus, pid, 1) == [
        (None, "pending", "packet-ready"),
        ("pending", "approved", "approved"),
        ("approved", "released", "released"),
    ]
    manifest = manifest_event["data"]
    assert manifest["manifest_id"] == f"{pid}@r1"
    assert manifest["audience"] == ["exec:cro", "exec:vp-support"]
    assert (manifest["approver"], manifest["decision_id"]) == (OWNER, decision["decision_id"])
    assert manifest["packet_hash"] == pkt["packet_hash"]
    assert manifest["option_set_hash"] == pkt["option_set_hash"]
    assert manifest["evidence_refs"] == pkt["evidence_refs"]
    assert manifest["supersedes"] == []
    assert manifest["manifest_hash"] == manifest_hash(manifest)
    assert manifest_event["id"] == f"{pid}@r1:released"
    assert (await states(service, pid)) == {1: "released"}


async def test_a_reject_by_a_release_owner_rejects_the_revision(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await pending_packet(bus)
    await bus.send("approval-decision", approval(pkt, decision="reject"))
    rejected = await lifecycle_event(bus, pkt["packet_id"], 1, "rejected")
    assert (rejected["from_state"], rejected["reason"]) == ("pending", "rejected-by-owner")
    assert (await states(service, pkt["packet_id"])) == {1: "rejected"}


async def test_a_second_release_owner_may_approve(bus: Bus) -> None:
    pkt = await pending_packet(bus)
    manifest = await released(bus, pkt, approver=SECOND_OWNER, seed=SECOND_SEED)
    assert manifest["data"]["approver"] == SECOND_OWNER


async def test_a_signature_by_another_key_is_refused_bad_signature(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await pending_packet(bus)
    assert_refusal(
        await refused(bus, approval(pkt, seed=STRANGER_SEED)), "pending", "bad-signature"
    )
    await assert_still_pending(bus, service, pkt)


async def test_a_signature_over_other_data_is_refused_bad_signature(bus: Bus) -> None:
    pkt = await pending_packet(bus)
    decision = approval(pkt)
    decision["audience"] = [*AUDIENCE, "exec:vp-support"]  # changed after signing
    assert_refusal(await refused(bus, decision), "pending", "bad-signature")


async def test_an_approver_who_is_not_a_release_owner_is_refused(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await pending_packet(bus)
    decision = approval(pkt, approver="user:mallory@support", seed=STRANGER_SEED)
    data = await refused(bus, decision)
    assert_refusal(data, "pending", "not-release-owner")
    assert "user:mallory@support" in data["detail"]
    await assert_still_pending(bus, service, pkt)


async def test_the_preparer_may_not_approve_their_own_revision(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = rehash(packet(new_id("RP"), 1), prepared_by=SECOND_OWNER)
    await ready(bus, pkt)
    decision = approval(pkt, approver=SECOND_OWNER, seed=SECOND_SEED)
    assert_refusal(await refused(bus, decision), "pending", "self-approval")
    await assert_still_pending(bus, service, pkt)
    # Another owner still may.
    await released(bus, pkt)


async def test_an_approval_of_an_unknown_revision_is_refused_with_null_states(bus: Bus) -> None:
    pkt = await pending_packet(bus)
    data = await refused(bus, approval({**pkt, "revision": 2}))
    assert_refusal(data, None, "unknown-revision")
    assert data["revision"] == 2
    never_sent = packet(new_id("RP"), 1)
    assert_refusal(await refused(bus, approval(never_sent)), None, "unknown-revision")


async def test_an_approval_of_a_revision_no_longer_pending_is_refused_not_pending(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await ready_and_released(bus)
    data = await refused(bus, approval(pkt))  # a second, different decision
    assert_refusal(data, "released", "not-pending")
    assert (await states(service, pkt["packet_id"])) == {1: "released"}
    assert len(distinct(bus, "release-manifest", of_packet(pkt["packet_id"]))) == 1

    rejected = await pending_packet(bus)
    await bus.send("approval-decision", approval(rejected, decision="reject"))
    await lifecycle_event(bus, rejected["packet_id"], 1, "rejected")
    assert_refusal(await refused(bus, approval(rejected)), "rejected", "not-pending")


async def test_an_approval_bound_to_other_hashes_is_refused_hash_mismatch(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await pending_packet(bus)
    other = "sha256:" + "0" * 64
    assert_refusal(await refused(bus, approval(pkt, packet_hash=other)), "pending", "hash-mismatch")
    data = await refused(bus, approval(pkt, option_set_hash=other))
    assert_refusal(data, "pending", "hash-mismatch")
    assert "option_set_hash" in data["detail"]
    await assert_still_pending(bus, service, pkt)


async def test_an_approval_naming_another_lane_is_refused_lane_mismatch(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await pending_packet(bus)
    assert_refusal(await refused(bus, approval(pkt, lane_id=FAST_LANE)), "pending", "lane-mismatch")
    await assert_still_pending(bus, service, pkt)


async def test_an_audience_outside_the_lane_or_empty_is_refused_audience_out_of_scope(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await pending_packet(bus)
    outside = approval(pkt, audience=["exec:cro", "user:someone@partner"])
    data = await refused(bus, outside)
    assert_refusal(data, "pending", "audience-out-of-scope")
    assert "user:someone@partner" in data["detail"]
    assert_refusal(
        await refused(bus, approval(pkt, audience=[])), "pending", "audience-out-of-scope"
    )
    await assert_still_pending(bus, service, pkt)


async def test_an_inverted_window_is_refused_bad_window(bus: Bus, service: ServiceProcess) -> None:
    pkt = await pending_packet(bus)
    start = now() + timedelta(hours=1)
    inverted = approval(pkt, valid_from=start, valid_until=start - timedelta(minutes=30))
    assert_refusal(await refused(bus, inverted), "pending", "bad-window")
    empty = approval(pkt, valid_from=start, valid_until=start)
    assert_refusal(await refused(bus, empty), "pending", "bad-window")
    await assert_still_pending(bus, service, pkt)


async def test_a_window_longer_than_max_validity_is_refused_bad_window(bus: Bus) -> None:
    pkt = await pending_packet(bus)
    start = now()
    too_long = approval(pkt, valid_from=start, valid_until=start + timedelta(days=7, seconds=1))
    data = await refused(bus, too_long)
    assert_refusal(data, "pending", "bad-window")
    assert "max_validity" in data["detail"]


async def test_a_window_already_over_is_refused_bad_window(bus: Bus) -> None:
    pkt = await pending_packet(bus)
    start = now() - timedelta(days=2)
    past = approval(pkt, valid_from=start, valid_until=start + timedelta(days=1))
    assert_refusal(await refused(bus, past), "pending", "bad-window")


async def test_a_decision_id_that_took_effect_cannot_be_used_on_another_revision(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    first = packet(pid, 1)
    await ready(bus, first)
    decision_id = new_id("AD")
    await released(bus, first, decision_id=decision_id)
    second = packet(pid, 2)
    await ready(bus, second)
    data = await refused(bus, approval(second, decision_id=decision_id))
    assert_refusal(data, "pending", "decision-reused")
    assert data["revision"] == 2
    assert (await states(service, pid)) == {1: "superseded", 2: "pending"}
    await released(bus, second)  # a fresh decision id is fine


async def test_a_refused_approval_is_audited_on_the_revision_log(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await pending_packet(bus)
    decision = approval(pkt, seed=STRANGER_SEED)
    await refused(bus, decision)
    [rev] = (await packet_view(service, pkt["packet_id"]))["revisions"]
    refusal = rev["facts"][-1]
    assert (refusal["kind"], refusal["reason"]) == ("refused", "bad-signature")
    assert refusal["data"]["decision_id"] == decision["decision_id"]
    assert rev["state"] == "pending"
    assert rev["chain"] == "ok"


async def test_a_refusal_leaves_the_revision_open_for_a_valid_approval(bus: Bus) -> None:
    pkt = await pending_packet(bus)
    await refused(bus, approval(pkt, audience=["user:someone@partner"]))
    manifest = await released(bus, pkt)
    assert manifest["data"]["audience"] == AUDIENCE


async def test_every_output_event_of_this_module_matches_its_published_schema(bus: Bus) -> None:
    assert conforming(bus) == []
