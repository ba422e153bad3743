"""Review feedback, the hash chain and its verifier."""

from dataclasses import replace

from service.domain.commands import (
    DEFAULT_PARKING,
    ApprovalDecided,
    FeedbackReceived,
    PacketReady,
    Tick,
)
from service.domain.facts import group_by_revision, verify_chain
from tests.support import builders
from tests.unit.domain.builders import T0, Log, approval_data, packet_data


def feedback(feedback_id: str = "RF-1", manifest_id: str = "RP-1@r1") -> FeedbackReceived:
    data = builders.feedback(manifest_id, "missing-blocked-terms", feedback_id)
    return FeedbackReceived(f"evt-{feedback_id}", data)


def released_log() -> Log:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet, valid_from=T0)))
    return log


def test_feedback_on_a_released_manifest_is_recorded_once() -> None:
    log = released_log()
    first = log.send(feedback())
    assert [f.kind for f in first.facts] == ["feedback"]
    assert first.facts[0].reason == "missing-blocked-terms"
    assert log.send(FeedbackReceived("evt-other", feedback().data)).facts == ()


def test_feedback_on_a_manifest_that_never_comes_is_dead_lettered_after_its_grace() -> None:
    log = released_log()
    assert log.send(feedback(manifest_id="RP-1@r9")).outcome == "parked"
    late = log.send(Tick(), T0 + DEFAULT_PARKING.grace)
    assert [(f.kind, f.reason) for f in late.facts] == [("dead-lettered", "unknown-manifest")]


def test_feedback_naming_no_revision_is_dead_lettered_at_once() -> None:
    decision = released_log().send(feedback(manifest_id="RP-1"))
    assert decision.dead_letter is not None and decision.dead_letter[0] == "unknown-manifest"


def test_every_log_the_decisions_build_verifies() -> None:
    log = released_log()
    log.send(PacketReady("ready-2", packet_data(2)))
    for facts in group_by_revision(log.facts).values():
        assert verify_chain(facts) is None


def test_the_verifier_names_the_first_broken_link() -> None:
    facts = group_by_revision(released_log().facts)[1]
    tampered = list(facts)
    tampered[1] = replace(tampered[1], data={**tampered[1].data, "detail": "edited"})
    broken = verify_chain(tampered)
    assert broken is not None and broken.fact_id == "RP-1@r1/2"
    assert "hash" in broken.problem


def test_the_verifier_names_a_missing_fact() -> None:
    facts = group_by_revision(released_log().facts)[1]
    broken = verify_chain([facts[0], *facts[2:]])
    assert broken is not None and broken.fact_id == "RP-1@r1/3"
