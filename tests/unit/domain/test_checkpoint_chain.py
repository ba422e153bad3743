"""A chain of audit checkpoints: each root over its leaves, numbers 1..latest, `previous`
links; and the first anchored fact the store does not hold as anchored."""

from __future__ import annotations

from dataclasses import replace

import pytest

from service.domain.checkpoint import (
    Anchor,
    CheckpointInvalid,
    chain_problems,
    first_difference,
    leaves_cap,
    make_checkpoint,
    parse_checkpoint,
    payload_digest,
)
from service.domain.merkle import Leaf

H = "sha256:" + "1" * 64


def hash_of(i: int) -> str:
    return "sha256:" + f"{i:064x}"


def batches(*sizes: int, chain: str = "c1") -> list[Anchor]:
    """Checkpoints 1.. of one chain, over consecutive facts of RP-1 r1."""
    anchors: list[Anchor] = []
    seq, previous = 1, None
    for number, size in enumerate(sizes, start=1):
        leaves = tuple((f"RP-1@r1/{s}", hash_of(s)) for s in range(seq, seq + size))
        seq += size
        at = f"2026-03-01T10:00:0{number}Z"
        cp = make_checkpoint(chain, number, previous, at, leaves)
        anchors.append(Anchor(cp, cp.payload(), leaves))
        previous = payload_digest(cp.payload())
    return anchors


def stored_as(anchors: list[Anchor]) -> dict[str, tuple[str, str]]:
    return {fid: (h, h) for a in anchors for fid, h in a.leaves}


def test_the_payload_is_rfc_8785_json_of_the_six_fields() -> None:
    cp = make_checkpoint("c1", 1, None, "2026-03-01T10:00:00Z", [("RP-1@r1/1", H)])
    assert cp.payload() == (
        b'{"at":"2026-03-01T10:00:00Z","chain":"c1","number":1,"previous":null,'
        b'"root":"' + cp.root.encode() + b'","size":1}'
    )
    assert parse_checkpoint(cp.payload()) == cp


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"chain":"c","number":1,"previous":null,"at":"t","size":1}',
        b'{"chain":"c","number":0,"previous":null,"at":"t","size":1,"root":"r"}',
        b'{"chain":"c","number":true,"previous":null,"at":"t","size":1,"root":"r"}',
        b'{"chain":"","number":1,"previous":null,"at":"t","size":1,"root":"r"}',
        b'{"chain":"c","number":1,"previous":7,"at":"t","size":1,"root":"r"}',
        b'{"chain":"c","number":1,"previous":null,"at":"t","size":1,"root":"r","x":1}',
    ],
)
def test_a_payload_that_is_no_checkpoint_is_refused(payload: bytes) -> None:
    with pytest.raises(CheckpointInvalid):
        parse_checkpoint(payload)


def test_a_well_formed_chain_has_no_problem_in_any_order_and_with_identical_copies() -> None:
    anchors = batches(3, 1, 2)
    assert chain_problems(anchors) == []
    assert chain_problems([anchors[2], anchors[0], anchors[1], anchors[0]]) == []


def test_a_gap_in_the_numbers_is_named() -> None:
    anchors = batches(1, 1, 1, 1)
    assert chain_problems([anchors[0], anchors[1], anchors[3]]) == [
        "checkpoint 3 of chain c1 is missing"
    ]


def test_a_missing_first_checkpoint_is_named() -> None:
    assert chain_problems(batches(1, 1)[1:]) == ["checkpoint 1 of chain c1 is missing"]


def test_a_broken_previous_link_is_named() -> None:
    anchors = batches(1, 1, 1)
    forged = replace(anchors[1].checkpoint, previous=H)
    anchors[1] = Anchor(forged, forged.payload(), anchors[1].leaves)
    # checkpoint 3 links to the original 2, not to the forged one, so it is named too
    assert chain_problems(anchors) == [
        "checkpoint 2 of chain c1: previous is not checkpoint 1's digest",
        "checkpoint 3 of chain c1: previous is not checkpoint 2's digest",
    ]


def test_a_first_checkpoint_with_a_previous_is_named() -> None:
    [first] = batches(1)
    forged = replace(first.checkpoint, previous=H)
    assert chain_problems([Anchor(forged, forged.payload(), first.leaves)]) == [
        "checkpoint 1 of chain c1: previous is not null"
    ]


@pytest.mark.parametrize("change", ["reorder", "drop", "edit", "add"])
def test_leaves_that_are_not_those_of_the_root_are_named(change: str) -> None:
    [anchor] = batches(3)
    a, b, c = anchor.leaves
    other: tuple[Leaf, ...] = {
        "reorder": (b, a, c),
        "drop": (a, c),
        "edit": (a, (b[0], H), c),
        "add": (a, b, c, ("RP-1@r1/9", H)),
    }[change]
    problems = chain_problems([Anchor(anchor.checkpoint, anchor.payload, other)])
    assert problems == [
        f"checkpoint 1 of chain c1: root or size is not that of its {len(other)} leaves"
    ]


def test_two_different_checkpoints_under_one_number_are_named() -> None:
    first, second = batches(1, 1)
    other = make_checkpoint("c1", 2, second.checkpoint.previous, "2026-03-01T11:00:00Z", [])
    problems = chain_problems([first, second, Anchor(other, other.payload(), ())])
    assert problems == ["checkpoint 2 of chain c1: two different checkpoints carry this number"]


def test_a_store_as_anchored_differs_nowhere() -> None:
    anchors = batches(2, 3)
    assert first_difference(anchors, stored_as(anchors)) is None


def test_a_resealed_fact_is_named_first_by_its_stored_hash() -> None:
    """Facts 3..5 re-sealed: fact 3 is the first leaf, in chain order, that differs."""
    anchors = batches(2, 3)
    stored = stored_as(anchors)
    for s in (3, 4, 5):
        stored[f"RP-1@r1/{s}"] = (H, H)
    assert first_difference(anchors, stored) == (
        f"RP-1@r1/3 differs from checkpoint 2 of chain c1: stored hash {H}, anchored {hash_of(3)}"
    )
    # the order of the checkpoints given does not change which fact is named first
    assert first_difference(anchors[::-1], stored) == first_difference(anchors, stored)


def test_an_edited_fact_not_resealed_is_named_by_its_recomputed_hash() -> None:
    anchors = batches(2)
    stored = stored_as(anchors)
    stored["RP-1@r1/2"] = (hash_of(2), H)
    assert first_difference(anchors, stored) == (
        f"RP-1@r1/2 differs from checkpoint 1 of chain c1: recomputed hash {H}, "
        f"anchored {hash_of(2)}"
    )


def test_a_deleted_fact_is_named() -> None:
    anchors = batches(2)
    stored = stored_as(anchors)
    del stored["RP-1@r1/1"]
    assert first_difference(anchors, stored) == (
        f"RP-1@r1/1 differs from checkpoint 1 of chain c1: missing from the store, "
        f"anchored {hash_of(1)}"
    )


def test_chains_are_compared_in_the_order_they_started() -> None:
    early = batches(1, chain="zz")
    late_cp = make_checkpoint("aa", 1, None, "2026-03-02T00:00:00Z", [("RP-2@r1/1", H)])
    late = [Anchor(late_cp, late_cp.payload(), (("RP-2@r1/1", H),))]
    stored: dict[str, tuple[str, str]] = {}  # nothing stored: both differ
    found = first_difference([*late, *early], stored)
    assert found is not None and found.startswith("RP-1@r1/1 differs from checkpoint 1 of chain zz")


def test_the_leaves_cap_keeps_an_event_under_the_topic_limit() -> None:
    assert leaves_cap(1_048_576) == 2_000
    assert leaves_cap(65_536) == (65_536 - 8_192) // 256
    assert leaves_cap(1_024) == 1
