"""docs/contract.md rows for packet-ready."""

from datetime import timedelta

from service.contract.envelope import envelope_of
from service.domain.commands import ApprovalDecided, EvidenceVersion, PacketReady
from tests.unit.domain.builders import T0, Log, approval_data, lifecycle, packet_data


def ready(revision: int, **kwargs: object) -> PacketReady:
    return PacketReady(
        f"ready-{revision}-{kwargs.get('lane', '')}", packet_data(revision, **kwargs)
    )  # type: ignore[arg-type]


def test_a_new_revision_is_stored_pending() -> None:
    log = Log()
    decision = log.send(ready(1))
    assert log.state(1) == "pending"
    assert lifecycle(decision) == [(None, "pending", "packet-ready")]


def test_a_newer_revision_supersedes_every_older_non_terminal_one() -> None:
    log = Log()
    log.send(ready(1))
    log.send(ready(2))
    decision = log.send(ready(3))
    assert (log.state(1), log.state(2), log.state(3)) == ("superseded", "superseded", "pending")
    notes = [e for f in decision.facts for o in f.outbox for e in [envelope_of(o)]]
    superseded = [n["data"] for n in notes if n["data"]["to_state"] == "superseded"]
    assert [(n["revision"], n["reason"], n["superseded_by"]) for n in superseded] == [
        (2, "newer-revision", 3)
    ]


def test_an_older_revision_arriving_late_is_stored_superseded_out_of_order() -> None:
    log = Log()
    log.send(ready(3))
    decision = log.send(ready(2))
    assert log.state(2) == "superseded"
    assert log.state(3) == "pending"
    assert lifecycle(decision) == [(None, "superseded", "out-of-order")]


def test_the_same_revision_again_with_the_same_hash_is_a_duplicate_no_op() -> None:
    log = Log()
    log.send(ready(1))
    decision = PacketReady("another-event-id", packet_data(1))
    again = log.send(decision)
    assert again.outcome == "duplicate"
    assert again.facts == ()


def test_the_same_revision_with_a_different_hash_is_a_revision_conflict() -> None:
    log = Log()
    log.send(ready(1))
    changed = packet_data(1, body={"customer": "someone else"})
    decision = log.send(PacketReady("conflicting", changed))
    assert decision.outcome == "dead-lettered"
    assert decision.dead_letter is not None and decision.dead_letter[0] == "revision-conflict"
    assert log.revisions[1].packet is not None
    assert log.revisions[1].packet["packet_hash"] != changed["packet_hash"]


def test_a_packet_for_an_unknown_lane_is_stored_rejected() -> None:
    log = Log()
    decision = log.send(ready(1, lane="no-such-lane"))
    assert log.state(1) == "rejected"
    assert lifecycle(decision) == [(None, "rejected", "unknown-lane")]


def test_a_packet_missing_required_evidence_is_rejected_naming_the_missing_kinds() -> None:
    log = Log()
    decision = log.send(ready(1, evidence=[("renewal", "RNW-1", "1")]))
    assert log.state(1) == "rejected"
    note = decision.facts[0].outbox[0].data
    assert note["reason"] == "evidence-incomplete"
    assert "incident-impact" in note["detail"] and "contract" in note["detail"]


def test_a_packet_citing_evidence_already_changed_is_superseded_on_arrival() -> None:
    log = Log()
    newer = {("incident-impact", "INC-1"): EvidenceVersion("8", "ev-1")}
    decision = log.send(PacketReady("ready-1", packet_data(1), evidence=newer))
    assert log.state(1) == "superseded"
    assert lifecycle(decision)[-1] == ("pending", "superseded", "evidence-changed")


def test_a_redelivered_packet_ready_finishes_a_half_done_supersession() -> None:
    log = Log()
    log.send(ready(1))
    decision = log.send(ready(2))
    # Simulate a crash after r2's creation was appended but before r1's supersession was.
    log.facts = [f for f in log.facts if not (f.revision == 1 and f.kind == "superseded")]
    assert log.state(1) == "pending"
    again = log.send(ready(2), T0 + timedelta(seconds=1))
    assert again.outcome == "duplicate"
    assert log.state(1) == "superseded"
    assert len(decision.facts) == 2


def test_a_newer_revision_supersedes_the_older_ones_before_it_is_created() -> None:
    log = Log()
    log.send(ready(1))
    decision = log.send(ready(2))
    # The first fact appended is on r1's next seq: a rival approving r1 from the same view
    # collides there before r2 can be in the log.
    assert [(f.revision, f.seq, f.kind) for f in decision.facts] == [
        (1, 2, "superseded"),
        (2, 1, "created"),
    ]


def test_an_approval_seeing_a_newer_revision_beside_a_live_older_one_supersedes_it() -> None:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ready(2))
    # A log a writer left half-way: r2 created, r1's supersession never appended.
    log.facts = [f for f in log.facts if not (f.revision == 1 and f.kind == "superseded")]
    decision = log.send(ApprovalDecided("ap-1", approval_data(packet)))
    assert log.state(1) == "superseded"
    assert decision.outcome == "refused"
    assert lifecycle(decision) == [
        ("pending", "superseded", "newer-revision"),
        ("superseded", "superseded", "not-pending"),
    ]
