"""Review feedback, the hash chain and its verifier."""

import json
from dataclasses import replace

from service.domain.commands import (
    DEFAULT_PARKING,
    ApprovalDecided,
    FeedbackReceived,
    PacketReady,
    Tick,
)
from service.domain.facts import (
    BrokenLink,
    Fact,
    Outgoing,
    chain_digest,
    group_by_revision,
    seal,
    verify_chain,
)
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
    recomputed = chain_digest(replace(tampered[1], hash="").hashed_content())
    assert recomputed != tampered[1].hash
    problem = f"hash {tampered[1].hash} != recomputed {recomputed}"
    assert verify_chain(tampered) == BrokenLink("RP-1@r1/2", problem)
    assert str(verify_chain(tampered)) == f"RP-1@r1/2: {problem}"


def test_the_verifier_names_a_missing_fact() -> None:
    facts = group_by_revision(released_log().facts)[1]
    broken = verify_chain([facts[0], *facts[2:]])
    assert broken == BrokenLink("RP-1@r1/3", "seq 3 where 2 was expected")


def test_the_verifier_names_a_fact_resealed_onto_another_link() -> None:
    """Its own hash is right for its content, but it does not stand on the fact before it."""
    facts = group_by_revision(released_log().facts)[1]
    elsewhere = "sha256:" + "0" * 64
    moved = seal(facts[1], elsewhere, facts[1].seq)
    assert moved.hash == chain_digest(replace(moved, hash="").hashed_content())
    broken = verify_chain([facts[0], moved, *facts[2:]])
    assert broken == BrokenLink("RP-1@r1/2", f"prev_hash {elsewhere} != {facts[0].hash}")
    first = seal(facts[0], elsewhere, 1)
    assert verify_chain([first]) == BrokenLink("RP-1@r1/1", f"prev_hash {elsewhere} != None")


def test_every_fact_and_event_reads_back_from_its_json_as_it_was_written() -> None:
    log = released_log()
    log.send(feedback())
    log.send(PacketReady("ready-2", packet_data(2)))
    assert {f.kind for f in log.facts} >= {"created", "approved", "released", "feedback"}
    for fact in log.facts:
        for published in (False, True):
            written = replace(fact, published=published)
            read = Fact.from_json(json.loads(json.dumps(written.to_json())))
            assert (read, read.published) == (written, published)
            assert read.to_json() == written.to_json()
        for event in fact.outbox:
            assert Outgoing.from_json(json.loads(json.dumps(event.to_json()))) == event
