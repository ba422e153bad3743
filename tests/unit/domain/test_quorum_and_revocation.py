"""Quorum approvals (k distinct owners on identical terms) and revocation by an owner."""

from datetime import timedelta
from typing import Any

from service.domain.commands import ApprovalDecided, ForwardRequested, PacketReady, Tick
from service.domain.governance import GovernanceError, parse_governance
from tests.support.builders import (
    LANE,
    OWNER,
    OWNER_SEED,
    PREPARER,
    SECOND_OWNER,
    SECOND_SEED,
    THIRD_OWNER,
    THIRD_SEED,
    forward,
    lane_yaml,
)
from tests.unit.domain.builders import (
    T0,
    Log,
    approval_data,
    events_of,
    governance,
    lifecycle,
    packet_data,
)

THREE = ((OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED), (THIRD_OWNER, THIRD_SEED))
BEGUN = T0 - timedelta(minutes=1)


def quorum_log(owners: Any = THREE, quorum: int = 2) -> tuple[Log, dict[str, Any]]:
    log = Log(gov=governance(owners=owners, quorum=quorum))
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    return log, packet


def by(packet: dict[str, Any], who: str, seed: bytes, n: int, **terms: Any) -> ApprovalDecided:
    data = approval_data(packet, approver=who, seed=seed, decision_id=f"AD-{n}", **terms)
    return ApprovalDecided(f"ap-{n}", data)


def test_the_first_approval_of_two_required_is_counted_and_the_revision_stays_pending() -> None:
    log, packet = quorum_log()
    decision = log.send(by(packet, OWNER, OWNER_SEED, 1, valid_from=BEGUN))
    assert log.state(1) == "pending"
    assert lifecycle(decision) == [("pending", "pending", "approval-counted")]
    [event] = events_of(decision, "packet-lifecycle")
    assert event["schemaversion"] == 2
    assert event["id"] == "RP-1@r1:counted:ap-1"
    assert event["data"]["approvals"] == {"counted": 1, "required": 2}


def test_a_second_owner_on_identical_terms_approves_and_the_manifest_lists_both() -> None:
    log, packet = quorum_log()
    log.send(by(packet, OWNER, OWNER_SEED, 1, valid_from=BEGUN))
    reordered = ["exec:general-counsel", "exec:cro"]  # the same audience, listed the other way
    decision = log.send(
        by(packet, THIRD_OWNER, THIRD_SEED, 2, valid_from=BEGUN, audience=reordered)
    )
    assert log.state(1) == "released"
    [manifest] = events_of(decision, "release-manifest")
    assert manifest["schemaversion"] == 2
    data = manifest["data"]
    assert data["approvals_required"] == 2
    assert [a["approver"] for a in data["approvals"]] == [OWNER, THIRD_OWNER]
    assert {a["meaning"] for a in data["approvals"]} == {"approve"}


def test_one_owner_approving_twice_counts_once() -> None:
    log, packet = quorum_log()
    log.send(by(packet, OWNER, OWNER_SEED, 1))
    decision = log.send(by(packet, OWNER, OWNER_SEED, 2))
    assert lifecycle(decision) == [("pending", "pending", "approver-already-counted")]
    assert log.state(1) == "pending"
    assert len(log.revisions[1].approvals) == 1


def test_an_approval_on_other_terms_than_the_one_counted_is_refused_naming_the_term() -> None:
    log, packet = quorum_log()
    log.send(by(packet, OWNER, OWNER_SEED, 1))
    wider = ["exec:cro", "exec:general-counsel", "exec:vp-support"]
    decision = log.send(by(packet, SECOND_OWNER, SECOND_SEED, 2, audience=wider))
    assert lifecycle(decision) == [("pending", "pending", "terms-differ")]
    assert "audience differs" in decision.facts[0].data["detail"]
    later = by(packet, THIRD_OWNER, THIRD_SEED, 3, valid_until=T0 + timedelta(days=2))
    assert "valid_until differs" in log.send(later).facts[0].data["detail"]


def test_the_preparer_cannot_complete_a_quorum_even_as_an_owner() -> None:
    preparer_seed = bytes(range(5, 37))
    log, packet = quorum_log(owners=(*THREE[:1], (PREPARER, preparer_seed)))
    log.send(by(packet, OWNER, OWNER_SEED, 1))
    decision = log.send(by(packet, PREPARER, preparer_seed, 2))
    assert lifecycle(decision) == [("pending", "pending", "self-approval")]


def test_any_owners_rejection_rejects_a_revision_with_approvals_counted() -> None:
    log, packet = quorum_log()
    log.send(by(packet, OWNER, OWNER_SEED, 1))
    reject = approval_data(packet, "reject", SECOND_OWNER, SECOND_SEED, decision_id="AD-2")
    log.send(ApprovalDecided("ap-2", reject))
    assert log.state(1) == "rejected"


def test_an_approval_by_an_owner_removed_since_no_longer_counts() -> None:
    log, packet = quorum_log()
    log.send(by(packet, SECOND_OWNER, SECOND_SEED, 1))
    log.governance = governance(owners=(THREE[0], THREE[2]), quorum=2)  # the second owner left
    decision = log.send(by(packet, OWNER, OWNER_SEED, 2))
    assert log.state(1) == "pending"
    [event] = events_of(decision, "packet-lifecycle")
    assert event["data"]["approvals"] == {"counted": 1, "required": 2}
    assert "user:sam.reyes@support's approval no longer counts" in event["data"]["detail"]


def test_at_release_the_quorum_is_checked_again_under_the_governance_in_force() -> None:
    log, packet = quorum_log()
    later = T0 + timedelta(hours=1)
    log.send(by(packet, OWNER, OWNER_SEED, 1, valid_from=later))
    log.send(by(packet, SECOND_OWNER, SECOND_SEED, 2, valid_from=later))
    assert log.state(1) == "approved"
    log.governance = governance(owners=(THREE[0], THREE[2]), quorum=2)
    decision = log.send(Tick(), now=later)
    assert lifecycle(decision) == [("approved", "superseded", "release-check-failed")]
    assert "1 of 2 required approvals still hold" in decision.facts[0].data["detail"]


def revoke(packet: dict[str, Any], n: int, who: str = OWNER, seed: bytes = OWNER_SEED) -> Any:
    data = approval_data(
        packet, "revoke", who, seed, decision_id=f"AD-{n}", signed_at="2026-11-27T18:00:00Z"
    )
    return ApprovalDecided(f"ap-{n}", data)


def test_an_owner_revokes_a_released_revision_and_forwards_are_then_blocked() -> None:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet, valid_from=BEGUN)))
    decision = log.send(revoke(packet, 2, SECOND_OWNER, SECOND_SEED))
    assert log.state(1) == "rejected"
    [event] = events_of(decision, "packet-lifecycle")
    assert (event["data"]["from_state"], event["data"]["reason"]) == (
        "released",
        "revoked-by-owner",
    )
    assert event["schemaversion"] == 2
    assert decision.facts[0].data["signed_at"] == "2026-11-27T18:00:00Z"
    request = forward(packet, ["exec:cro"], request_id="FR-1")
    blocked = log.send(ForwardRequested("fr-1", request))
    [outcome] = events_of(blocked, "blocked-forward")
    assert (outcome["data"]["reason"], outcome["schemaversion"]) == ("revoked-by-owner", 2)


def test_a_revocation_is_never_undone_and_a_pending_revision_is_rejected_not_revoked() -> None:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    early = log.send(revoke(packet, 1))
    assert lifecycle(early) == [("pending", "pending", "not-revocable")]
    log.send(ApprovalDecided("ap-2", approval_data(packet, valid_from=BEGUN, decision_id="AD-2")))
    log.send(revoke(packet, 3))
    again = log.send(revoke(packet, 4))
    assert lifecycle(again) == [("rejected", "rejected", "not-revocable")]
    assert log.state(1) == "rejected"


def test_a_revocation_by_someone_not_an_owner_of_the_lane_is_refused() -> None:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet, valid_from=BEGUN)))
    decision = log.send(revoke(packet, 2, THIRD_OWNER, THIRD_SEED))
    assert lifecycle(decision) == [("released", "released", "not-release-owner")]


def test_a_lane_may_not_require_more_approvals_than_it_has_owners() -> None:
    two = ((OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED))
    text = "lanes:\n" + lane_yaml(LANE, owners=two, quorum=3)
    try:
        parse_governance(text)
    except GovernanceError as err:
        assert "approvals_required: 3 approvals required but the lane has 2" in str(err)
    else:
        raise AssertionError("a quorum above the owners must be refused")
    assert (
        parse_governance("lanes:\n" + lane_yaml(LANE, owners=two, quorum=2))
        .lanes[LANE]
        .approvals_required
        == 2
    )
