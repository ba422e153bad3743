"""Every approval check and its reason (docs/contract.md)."""

from datetime import timedelta
from typing import Any

import pytest

from service.domain.commands import DEFAULT_PARKING, ApprovalDecided, PacketReady, Tick
from tests.support.builders import OWNER, PREPARER, SECOND_OWNER, SECOND_SEED, STRANGER_SEED
from tests.unit.domain.builders import (
    T0,
    Log,
    approval_data,
    events_of,
    governance,
    lifecycle,
    packet_data,
)


def pending_log(**gov: Any) -> tuple[Log, dict[str, Any]]:
    log = Log(gov=governance(**gov))
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    return log, packet


def test_a_valid_approval_with_a_future_window_approves_without_releasing() -> None:
    log, packet = pending_log()
    decision = log.send(ApprovalDecided("ap-1", approval_data(packet)))
    assert log.state(1) == "approved"
    assert lifecycle(decision) == [("pending", "approved", "approved")]
    assert events_of(decision, "release-manifest") == []


def test_a_valid_approval_whose_window_has_begun_releases_at_once() -> None:
    log, packet = pending_log()
    approval = approval_data(packet, valid_from=T0 - timedelta(minutes=1))
    decision = log.send(ApprovalDecided("ap-1", approval))
    assert log.state(1) == "released"
    manifests = events_of(decision, "release-manifest")
    assert [m["id"] for m in manifests] == ["RP-1@r1:released"]
    assert manifests[0]["data"]["blocked_requests"] == packet["blocked_requests"]
    assert manifests[0]["data"]["options"] == packet["options"]


def test_a_reject_by_a_release_owner_rejects_the_revision() -> None:
    log, packet = pending_log()
    decision = log.send(ApprovalDecided("ap-1", approval_data(packet, decision="reject")))
    assert log.state(1) == "rejected"
    assert lifecycle(decision) == [("pending", "rejected", "rejected-by-owner")]


def refusal_of(log: Log, approval: dict[str, Any], now: Any = T0) -> str:
    before = log.state(int(approval["revision"]))
    decision = log.send(ApprovalDecided(f"ap-{len(log.facts)}", approval), now)
    assert decision.outcome == "refused"
    notes = events_of(decision, "packet-lifecycle")
    assert len(notes) == 1
    data = notes[0]["data"]
    assert data["from_state"] == data["to_state"] == before
    assert log.state(int(approval["revision"])) == before
    return str(data["reason"])


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("forged signature", {"forge": True}, "bad-signature"),
    ("another owner's key", {"seed": SECOND_SEED}, "bad-signature"),
    (
        "a stranger's key and name",
        {"approver": "user:mallory@evil", "seed": STRANGER_SEED},
        "not-release-owner",
    ),
    (
        "audience outside the lane",
        {"audience": ["exec:cro", "user:x@partner"]},
        "audience-out-of-scope",
    ),
    ("empty audience", {"audience": []}, "audience-out-of-scope"),
    (
        "inverted window",
        {"valid_from": T0 + timedelta(days=2), "valid_until": T0 + timedelta(days=1)},
        "bad-window",
    ),
    ("window longer than max_validity", {"valid_until": T0 + timedelta(days=9)}, "bad-window"),
    (
        "window already past",
        {"valid_from": T0 - timedelta(days=3), "valid_until": T0 - timedelta(days=1)},
        "bad-window",
    ),
    ("another lane", {"lane_id": "exec-renewal-review"}, "lane-mismatch"),
    ("another packet hash", {"packet_hash": "sha256:" + "0" * 64}, "hash-mismatch"),
    ("another option-set hash", {"option_set_hash": "sha256:" + "1" * 64}, "hash-mismatch"),
]


@pytest.mark.parametrize(("case", "change", "reason"), CASES, ids=[c[0] for c in CASES])
def test_an_approval_failing_a_check_is_refused_with_its_reason(
    case: str, change: dict[str, Any], reason: str
) -> None:
    log, packet = pending_log()
    change = dict(change)
    forge = change.pop("forge", False)
    approval = approval_data(packet, **change)
    if forge:
        approval["audience"] = ["exec:cro", "exec:vp-support"]
    assert refusal_of(log, approval) == reason


def test_the_preparer_cannot_approve_their_own_revision() -> None:
    log = Log(gov=governance(owners=[(PREPARER, SECOND_SEED)]))
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    assert refusal_of(log, approval_data(packet, approver=PREPARER, seed=SECOND_SEED)) == (
        "self-approval"
    )


def test_an_approval_for_a_revision_never_stored_is_refused_with_null_states_after_its_grace() -> (
    None
):
    log, _ = pending_log()
    ghost = packet_data(7)
    assert log.send(ApprovalDecided("ap-ghost", approval_data(ghost))).outcome == "parked"
    late = log.send(Tick(), T0 + DEFAULT_PARKING.grace)
    [note] = events_of(late, "packet-lifecycle")
    assert (note["data"]["from_state"], note["data"]["to_state"]) == (None, None)
    assert note["data"]["reason"] == "unknown-revision"
    assert log.state(7) is None


def test_an_approval_of_a_revision_no_longer_pending_is_refused() -> None:
    log, packet = pending_log()
    log.send(ApprovalDecided("ap-first", approval_data(packet)))
    second = approval_data(packet, decision_id="AD-2", approver=SECOND_OWNER, seed=SECOND_SEED)
    assert refusal_of(log, second) == "not-pending"


def test_a_decision_id_used_on_one_revision_is_refused_on_another() -> None:
    log, packet = pending_log()
    log.send(ApprovalDecided("ap-first", approval_data(packet)))
    newer = packet_data(2)
    log.send(PacketReady("ready-2", newer))
    assert refusal_of(log, approval_data(newer)) == "decision-reused"


def test_a_redelivered_approval_event_changes_nothing() -> None:
    log, packet = pending_log()
    approval = approval_data(packet, valid_from=T0)
    first = log.send(ApprovalDecided("ap-1", approval))
    again = log.send(ApprovalDecided("ap-1", approval))
    assert len(events_of(first, "release-manifest")) == 1
    assert again.outcome == "duplicate" and again.facts == ()


def test_an_approval_by_the_second_owner_of_the_lane_is_accepted() -> None:
    log, packet = pending_log()
    second = approval_data(packet, approver=SECOND_OWNER, seed=SECOND_SEED)
    log.send(ApprovalDecided("ap-1", second))
    assert log.state(1) == "approved"


def test_an_approver_field_naming_an_owner_cannot_borrow_their_identity() -> None:
    log, packet = pending_log()
    assert refusal_of(log, approval_data(packet, approver=OWNER, seed=STRANGER_SEED)) == (
        "bad-signature"
    )


@pytest.mark.parametrize(
    ("start", "end", "now", "outcome"),
    [
        (T0, T0 + timedelta(days=7), T0, "approved"),  # exactly max_validity: allowed
        (T0, T0 + timedelta(days=7, seconds=1), T0, "bad-window"),  # a second more
        (T0, T0, T0 - timedelta(hours=1), "bad-window"),  # begins as it ends
        (T0 - timedelta(hours=1), T0, T0, "bad-window"),  # ends the very moment it is decided
        (T0 - timedelta(hours=1), T0 + timedelta(seconds=1), T0, "approved"),
    ],
)
def test_an_approval_window_is_judged_at_its_edges(
    start: Any, end: Any, now: Any, outcome: str
) -> None:
    log, packet = pending_log()
    approval = approval_data(packet, valid_from=start, valid_until=end)
    if outcome == "approved":
        log.send(ApprovalDecided("ap-edge", approval), now)
        assert log.state(1) in ("approved", "released")
    else:
        assert refusal_of(log, approval, now) == outcome


def test_the_audit_fact_of_a_decision_records_who_decided_what() -> None:
    log, packet = pending_log()
    refused = log.send(ApprovalDecided("ap-1", approval_data(packet, seed=SECOND_SEED)))
    approved = log.send(ApprovalDecided("ap-2", approval_data(packet, decision_id="AD-2")))
    for decision, decision_id in ((refused, "AD-1"), (approved, "AD-2")):
        record = decision.facts[0].data
        wanted = {"decision_id": decision_id, "approver": OWNER, "decision": "approve"}
        assert {k: record[k] for k in wanted} == wanted
