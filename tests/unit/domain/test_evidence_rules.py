"""evidence-changed and audience-scope changes (docs/contract.md)."""

from datetime import timedelta

from service.domain.commands import ApprovalDecided, EvidenceChanged, ForwardRequested, PacketReady
from tests.support.builders import LANE, evidence_changed, forward
from tests.unit.domain.builders import T0, Log, approval_data, lifecycle, packet_data


def changed(kind: str, ref: str, version: str, event_id: str = "ev-1") -> EvidenceChanged:
    return EvidenceChanged(event_id, evidence_changed(kind, ref, version))


def test_a_changed_cited_version_supersedes_a_pending_revision() -> None:
    log = Log()
    log.send(PacketReady("ready-1", packet_data(1)))
    decision = log.send(changed("incident-impact", "INC-1", "8"))
    assert lifecycle(decision) == [("pending", "superseded", "evidence-changed")]
    assert decision.facts[0].outbox[0].data["detail"] == "incident-impact INC-1 7 -> 8"


def test_the_same_version_again_changes_nothing() -> None:
    log = Log()
    log.send(PacketReady("ready-1", packet_data(1)))
    assert log.send(changed("incident-impact", "INC-1", "7")).facts == ()
    assert log.state(1) == "pending"


def test_evidence_the_revision_does_not_cite_changes_nothing() -> None:
    log = Log()
    log.send(PacketReady("ready-1", packet_data(1)))
    assert log.send(changed("incident-impact", "INC-999", "2")).facts == ()


def test_a_released_revision_superseded_by_evidence_tells_routing_to_stop() -> None:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet, valid_from=T0)))
    assert log.state(1) == "released"
    decision = log.send(changed("contract", "MSA-1", "4"), T0 + timedelta(minutes=1))
    assert lifecycle(decision) == [("released", "superseded", "evidence-changed")]
    request = forward(packet, ["exec:general-counsel"], request_id="FR-1")
    blocked = log.send(ForwardRequested("fr-1", request), T0 + timedelta(minutes=2))
    assert blocked.facts[0].data["reason"] == "superseded"


def test_an_audience_scope_change_supersedes_every_live_revision_of_the_lane() -> None:
    log = Log()
    log.send(PacketReady("ready-1", packet_data(1)))
    decision = log.send(changed("audience-scope", LANE, "2"))
    assert lifecycle(decision) == [("pending", "superseded", "evidence-changed")]


def test_an_audience_scope_change_of_another_lane_changes_nothing() -> None:
    log = Log()
    log.send(PacketReady("ready-1", packet_data(1)))
    assert log.send(changed("audience-scope", "exec-renewal-review", "2")).facts == ()
