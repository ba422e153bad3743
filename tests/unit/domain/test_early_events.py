"""Early events: approvals, forwards and feedback that overtake what they name are held.

Kafka orders nothing across topics (docs/contract.md, envelope): an event naming a revision
the gate has not stored yet waits on that revision's log for its grace, is decided the
moment the revision is stored, in arrival order, and refused or blocked only after it.
"""

from __future__ import annotations

from datetime import timedelta

from service.domain.commands import (
    DEFAULT_PARKING,
    ApprovalDecided,
    FeedbackReceived,
    ForwardRequested,
    Origin,
    PacketReady,
    Parking,
    Tick,
)
from service.domain.decide import Decision, decide
from service.domain.facts import group_by_revision, verify_chain
from tests.unit.domain.builders import T0, Log, approval_data, events_of, lifecycle, packet_data

GRACE = DEFAULT_PARKING.grace
ORIGIN = Origin("review-feedback", 2, 41, "RP-1", "2026-11-27T18:00:00Z", "eyJ4IjoxfQ==")


def send(log: Log, command: object, now=T0, parking: Parking = DEFAULT_PARKING) -> Decision:
    decision = decide(log.packet_id, log.revisions, command, now, log.governance, parking=parking)  # type: ignore[arg-type]
    log.facts = [*log.facts, *decision.facts]
    return decision


def forward(recipients: list[str], request_id: str = "FR-1") -> ForwardRequested:
    data = {
        "request_id": request_id,
        "packet_id": "RP-1",
        "revision": 1,
        "manifest_id": "RP-1@r1",
        "requested_by": "exec:cro",
        "recipients": recipients,
        "channel": "email",
    }
    return ForwardRequested(f"evt-{request_id}", data)


def feedback(feedback_id: str = "RF-1") -> FeedbackReceived:
    data = {
        "feedback_id": feedback_id,
        "manifest_id": "RP-1@r1",
        "reviewer": "exec:cro",
        "correction": "other",
        "note": "seen",
    }
    return FeedbackReceived(f"evt-{feedback_id}", data, ORIGIN)


def test_an_approval_before_its_packet_is_parked_and_decided_when_the_packet_arrives() -> None:
    log, packet = Log(), packet_data(1)
    early = send(log, ApprovalDecided("ap-1", approval_data(packet, valid_from=T0)))
    assert (early.outcome, [f.kind for f in early.facts], early.facts[0].outbox) == (
        "parked",
        ["parked"],
        (),
    )
    ready = send(log, PacketReady("ready-1", packet), T0 + timedelta(seconds=3))
    assert lifecycle(ready) == [
        (None, "pending", "packet-ready"),
        ("pending", "approved", "approved"),
        ("approved", "released", "released"),
    ]
    notes = [e["data"] for e in events_of(ready, "packet-lifecycle")]
    assert [n["cause_event_id"] for n in notes] == ["ready-1", "ap-1", "ap-1"]
    assert log.state(1) == "released" and log.revisions[1].parked == ()
    assert verify_chain(group_by_revision(log.facts)[1]) is None


def test_a_redelivered_early_approval_is_parked_once() -> None:
    log, packet = Log(), packet_data(1)
    approval = ApprovalDecided("ap-1", approval_data(packet))
    send(log, approval)
    again = send(log, approval, T0 + timedelta(seconds=1))
    assert (again.outcome, again.facts) == ("duplicate", ())
    assert len(log.revisions[1].parked) == 1


def test_an_approval_whose_revision_never_comes_is_refused_once_its_grace_has_passed() -> None:
    log, packet = Log(), packet_data(1)
    send(log, ApprovalDecided("ap-1", approval_data(packet)))
    assert log.revisions[1].next_due() == T0 + GRACE
    assert send(log, Tick(), T0 + GRACE - timedelta(seconds=1)).facts == ()
    late = send(log, Tick(), T0 + GRACE)
    assert lifecycle(late) == [(None, None, "unknown-revision")]
    assert events_of(late, "packet-lifecycle")[0]["data"]["cause_event_id"] == "ap-1"
    assert log.revisions[1].parked == () and log.revisions[1].next_due() is None


def test_parked_events_are_decided_in_arrival_order() -> None:
    log, packet = Log(), packet_data(1)
    forged = approval_data(packet, valid_from=T0, decision_id="AD-forged")
    forged["audience"] = ["exec:cro", "user:someone@partner"]
    send(log, ApprovalDecided("ap-forged", forged))
    send(log, ApprovalDecided("ap-good", approval_data(packet, valid_from=T0)))
    send(log, forward(["exec:cro"]))
    ready = send(log, PacketReady("ready-1", packet), T0 + timedelta(seconds=2))
    kinds = [(f.kind, f.cause_event_id) for f in ready.facts]
    assert kinds == [
        ("created", "ready-1"),
        ("refused", "ap-forged"),
        ("approved", "ap-good"),
        ("released", "ap-good"),
        ("forward-allowed", "evt-FR-1"),
    ]


def test_a_forward_for_a_packet_never_stored_is_blocked_unknown_packet_after_its_grace() -> None:
    log = Log()
    assert send(log, forward(["exec:cro"])).outcome == "parked"
    late = send(log, Tick(), T0 + GRACE)
    [blocked] = events_of(late, "blocked-forward")
    assert blocked["data"]["reason"] == "unknown-packet"
    assert [f.kind for f in late.facts] == ["forward-blocked"]


def test_a_feedback_before_its_revision_waits_and_is_decided_when_it_is_stored() -> None:
    log, packet = Log(), packet_data(1)
    assert send(log, feedback()).outcome == "parked"
    ready = send(log, PacketReady("ready-1", packet))
    # Stored but not released: the manifest it names does not exist, as without the wait.
    assert [(f.kind, f.reason) for f in ready.facts][-1] == ("dead-lettered", "unknown-manifest")
    assert events_of(ready, "dead-letter")[0]["data"]["raw_value"] == ORIGIN.raw_value


def test_a_feedback_for_a_stored_unreleased_revision_is_not_held() -> None:
    log, packet = Log(), packet_data(1)
    send(log, PacketReady("ready-1", packet))
    decision = send(log, feedback())
    assert decision.dead_letter is not None and decision.dead_letter[0] == "unknown-manifest"


def test_a_feedback_whose_manifest_never_comes_is_dead_lettered_from_its_record() -> None:
    log = Log()
    send(log, feedback())
    late = send(log, Tick(), T0 + GRACE)
    [letter] = events_of(late, "dead-letter")
    assert letter["id"] == "dead-letter:review-feedback:2:41"
    assert letter["data"]["raw_value"] == ORIGIN.raw_value
    assert letter["data"]["error_kind"] == "unknown-manifest"
    assert [f.kind for f in late.facts] == ["dead-lettered"]


def test_past_the_cap_an_approval_is_dead_lettered_and_a_forward_blocked_at_once() -> None:
    log, packet = Log(), packet_data(1)
    small = Parking(per_packet=1)
    send(log, ApprovalDecided("ap-1", approval_data(packet)), parking=small)
    full = send(log, ApprovalDecided("ap-2", approval_data(packet)), parking=small)
    assert (full.outcome, full.dead_letter and full.dead_letter[0]) == (
        "dead-lettered",
        "early-event-limit",
    )
    blocked = send(log, forward(["exec:cro"]), parking=Parking(room=False))
    assert events_of(blocked, "blocked-forward")[0]["data"]["reason"] == "unknown-packet"


def test_two_held_forwards_with_one_request_id_are_decided_once_and_the_second_unparked() -> None:
    log = Log()
    first, second = forward(["exec:cro"]), forward(["exec:cro"])
    second = ForwardRequested("evt-FR-1-again", second.data)
    assert [send(log, cmd).outcome for cmd in (first, second)] == ["parked", "parked"]
    ready = send(log, PacketReady("ready-1", packet_data(1)), T0 + timedelta(seconds=1))
    decided = [(f.kind, f.reason, f.cause_event_id) for f in ready.facts if f.revision == 1]
    assert decided[1:] == [
        ("forward-blocked", "not-released", "evt-FR-1"),
        ("unparked", "duplicate", "evt-FR-1-again"),
    ]
    assert log.revisions[1].parked == ()
    later = send(log, Tick(), T0 + timedelta(minutes=6))
    assert (later.facts, log.state(1)) == ((), "pending")


def test_a_held_duplicate_feedback_never_moves_an_expired_release_again() -> None:
    log, packet = Log(), packet_data(1)
    window = approval_data(packet, valid_from=T0, valid_until=T0 + timedelta(hours=1))
    send(log, ApprovalDecided("ap-1", window))
    again = FeedbackReceived("evt-RF-1-again", feedback().data, ORIGIN)
    assert [send(log, cmd).outcome for cmd in (feedback(), again)] == ["parked", "parked"]
    send(log, PacketReady("ready-1", packet), T0 + timedelta(seconds=1))
    assert (log.state(1), log.revisions[1].parked) == ("released", ())
    expired = send(log, Tick(), T0 + timedelta(hours=2))
    assert [(f.kind, f.reason) for f in expired.facts] == [("expired", "validity-ended")]
    assert send(log, Tick(), T0 + timedelta(hours=3)).facts == ()
