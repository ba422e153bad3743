"""Transitions time alone drives: release at valid_from, expiry, approval timeout."""

from datetime import timedelta
from typing import Any

from service.domain.commands import ApprovalDecided, PacketReady, Tick
from tests.unit.domain.builders import (
    T0,
    Log,
    approval_data,
    events_of,
    governance,
    lifecycle,
    packet_data,
)


def approved_log(**approval: Any) -> tuple[Log, dict[str, Any]]:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet, **approval)))
    return log, packet


def test_an_approved_revision_is_released_when_valid_from_comes() -> None:
    log, _ = approved_log(valid_from=T0 + timedelta(minutes=5))
    assert log.send(Tick(), T0 + timedelta(minutes=4)).facts == ()
    decision = log.send(Tick(), T0 + timedelta(minutes=5))
    assert log.state(1) == "released"
    manifest = events_of(decision, "release-manifest")[0]["data"]
    assert manifest["released_at"] == "2026-11-27T18:05:00Z"
    assert manifest["approved_at"] == "2026-11-27T18:00:00Z"


def test_a_released_revision_expires_when_valid_until_passes() -> None:
    log, _ = approved_log(valid_from=T0, valid_until=T0 + timedelta(hours=1))
    assert log.state(1) == "released"
    decision = log.send(Tick(), T0 + timedelta(hours=1))
    assert log.state(1) == "expired"
    assert lifecycle(decision) == [("released", "expired", "validity-ended")]


def test_an_approved_revision_whose_window_ended_unreleased_expires() -> None:
    log, _ = approved_log(valid_from=T0 + timedelta(hours=1), valid_until=T0 + timedelta(hours=2))
    decision = log.send(Tick(), T0 + timedelta(hours=3))
    assert lifecycle(decision) == [("approved", "expired", "validity-ended")]


def test_a_pending_revision_expires_when_max_pending_passes() -> None:
    log = Log(gov=governance(max_pending="PT1H"))
    log.send(PacketReady("ready-1", packet_data(1)))
    assert log.send(Tick(), T0 + timedelta(minutes=59)).facts == ()
    decision = log.send(Tick(), T0 + timedelta(hours=1))
    assert lifecycle(decision) == [("pending", "expired", "approval-timeout")]


def test_a_terminal_revision_never_changes_again() -> None:
    log, packet = approved_log(valid_from=T0, valid_until=T0 + timedelta(hours=1))
    log.send(Tick(), T0 + timedelta(hours=2))
    assert log.state(1) == "expired"
    later = log.send(
        ApprovalDecided("ap-2", approval_data(packet, decision_id="AD-2")), T0 + timedelta(hours=3)
    )
    assert log.state(1) == "expired"
    assert [(f.kind, f.reason, f.to_state) for f in later.facts] == [
        ("refused", "not-pending", "expired")
    ]


def test_release_rechecks_the_governance_in_force_and_supersedes_on_failure() -> None:
    log, _ = approved_log(valid_from=T0 + timedelta(minutes=5))
    log.governance = governance(recipients=["exec:cro"])
    decision = log.send(Tick(), T0 + timedelta(minutes=5))
    assert log.state(1) == "superseded"
    assert lifecycle(decision) == [("approved", "superseded", "release-check-failed")]
    assert "audience-out-of-scope" in decision.facts[0].outbox[0].data["detail"]
    assert events_of(decision, "release-manifest") == []


def test_release_refuses_an_owner_removed_from_the_lane() -> None:
    log, _ = approved_log(valid_from=T0 + timedelta(minutes=5))
    log.governance = governance(owners=[])
    decision = log.send(Tick(), T0 + timedelta(minutes=5))
    assert log.state(1) == "superseded"
    assert "not-release-owner" in decision.facts[0].data["detail"]


def test_next_due_follows_the_state() -> None:
    log, _ = approved_log(valid_from=T0 + timedelta(minutes=5), valid_until=T0 + timedelta(days=1))
    assert log.revisions[1].next_due() == T0 + timedelta(minutes=5)
    log.send(Tick(), T0 + timedelta(minutes=5))
    assert log.revisions[1].next_due() == T0 + timedelta(days=1)
    log.send(Tick(), T0 + timedelta(days=1))
    assert log.revisions[1].next_due() is None
