"""Re-sealing: what the unkeyed chain catches alone, and what only a checkpoint catches.

A fact moved onto another link and re-sealed is caught by the prev_hash check (and only by
it: the fact's own hash is right for its content). A fact edited and re-sealed with every
later one is not caught by the chain at all; the checkpoints' leaves catch it
(service/domain/checkpoint.py, docs/security.md).
"""

from __future__ import annotations

from dataclasses import replace

from service.domain.checkpoint import Anchor, first_difference, make_checkpoint
from service.domain.commands import ApprovalDecided, PacketReady
from service.domain.facts import (
    BrokenLink,
    Fact,
    chain_digest,
    group_by_revision,
    seal,
    verify_chain,
)
from tests.unit.domain.builders import T0, Log, approval_data, packet_data


def released() -> list[Fact]:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet, valid_from=T0)))
    facts = group_by_revision(log.facts)[1]
    assert len(facts) >= 3
    return facts


def reseal_from(facts: list[Fact], index: int, edited: Fact) -> list[Fact]:
    """`edited` at `index`, sealed on the fact before it, and every later fact re-sealed."""
    out = list(facts[:index])
    prev = out[-1].hash if out else None
    for fact in [edited, *facts[index + 1 :]]:
        sealed = seal(fact, prev, fact.seq)
        out.append(sealed)
        prev = sealed.hash
    return out


def test_a_fact_whose_prev_hash_is_changed_and_resealed_is_named_by_the_prev_hash_check() -> None:
    facts = released()
    forged_prev = "sha256:" + "e" * 64
    moved = seal(facts[1], forged_prev, facts[1].seq)
    assert moved.hash == chain_digest(moved.hashed_content())  # its own hash holds
    rest = reseal_from([*facts[:1], moved, *facts[2:]], 2, facts[2])
    assert rest[2].prev_hash == moved.hash  # and every later link stands on it
    broken = verify_chain(rest)
    assert broken == BrokenLink(facts[1].id, f"prev_hash {forged_prev} != {facts[0].hash}")


def test_an_edited_fact_resealed_with_every_later_one_passes_the_chain_not_the_checkpoint() -> None:
    facts = released()
    anchored = tuple((f.id, f.hash) for f in facts)
    cp = make_checkpoint("c1", 1, None, "2026-03-01T10:00:00Z", anchored)
    edited = replace(facts[1], data={**facts[1].data, "approver": "user:mallory@support"})
    tampered = reseal_from(facts, 1, edited)
    assert verify_chain(tampered) is None  # the weakness: the chain is unkeyed
    stored = {f.id: (f.hash, chain_digest(f.hashed_content())) for f in tampered}
    found = first_difference([Anchor(cp, cp.payload(), anchored)], stored)
    assert found == (
        f"{facts[1].id} differs from checkpoint 1 of chain c1: "
        f"stored hash {tampered[1].hash}, anchored {facts[1].hash}"
    )
