"""Audit checkpoints (pure): the signed statement of a chain of Merkle roots over the facts
one gate process appended, and the checks a verifier makes on them (docs/security.md).

A checkpoint's payload is RFC 8785 JSON: `{"chain", "number", "previous", "at", "size",
"root"}`; `previous` is the digest of checkpoint n-1's payload bytes (null for 1), `root`
the RFC 6962 tree hash over its leaves (service/domain/merkle.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.domain.canonical import canonical
from service.domain.merkle import Leaf, merkle_root

PAYLOAD_TYPE = "application/vnd.release-gate.checkpoint+json"
MAX_LEAVES = 2_000
# A leaf on the wire is at most ~240 bytes (a 128-character packet id, revision and seq,
# a 71-character hash); this leaves room for the envelope and the signature.
LEAF_BYTES = 256
ENVELOPE_ROOM = 8_192
_KEYS = ("chain", "number", "previous", "at", "size", "root")


class CheckpointInvalid(ValueError):
    """A payload that is not a checkpoint, or a chain of checkpoints that does not hold."""


def leaves_cap(max_message_bytes: int) -> int:
    """Leaves per checkpoint: MAX_LEAVES, fewer if the topic takes smaller messages."""
    return max(1, min(MAX_LEAVES, (max_message_bytes - ENVELOPE_ROOM) // LEAF_BYTES))


def payload_digest(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    chain: str
    number: int
    previous: str | None
    at: str
    size: int
    root: str

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _KEYS}

    def payload(self) -> bytes:
        return canonical(self.to_json())

    def __str__(self) -> str:
        return f"checkpoint {self.number} of chain {self.chain}"


def make_checkpoint(
    chain: str, number: int, previous: str | None, at: str, leaves: Sequence[Leaf]
) -> Checkpoint:
    return Checkpoint(chain, number, previous, at, len(leaves), merkle_root(leaves))


def parse_checkpoint(payload: bytes) -> Checkpoint:
    """The checkpoint a signed payload states; CheckpointInvalid if it is not one."""
    try:
        obj = json.loads(payload)
    except ValueError:
        raise CheckpointInvalid("the payload is not JSON") from None
    if not isinstance(obj, dict) or sorted(obj) != sorted(_KEYS):
        raise CheckpointInvalid(f"the payload's keys are not {', '.join(_KEYS)}")
    number, size = obj["number"], obj["size"]
    texts = (obj["chain"], obj["at"], obj["root"])
    if not all(isinstance(t, str) and t for t in texts):
        raise CheckpointInvalid("chain, at and root must be non-empty strings")
    if type(number) is not int or type(size) is not int or number < 1 or size < 0:
        raise CheckpointInvalid("number must be a positive integer, size a count")
    if obj["previous"] is not None and not isinstance(obj["previous"], str):
        raise CheckpointInvalid("previous must be a digest or null")
    return Checkpoint(**obj)


@dataclass(frozen=True)
class Anchor:
    """A checkpoint whose signature verified, its payload bytes and the leaves it covers."""

    checkpoint: Checkpoint
    payload: bytes
    leaves: tuple[Leaf, ...]


def chain_problems(anchors: Sequence[Anchor]) -> list[str]:
    """What does not hold in one chain's checkpoints (given in any order, duplicates
    allowed if identical): roots over the leaves, numbers 1..latest, `previous` links."""
    problems: list[str] = []
    by_number: dict[int, Anchor] = {}
    for anchor in anchors:
        cp = anchor.checkpoint
        if merkle_root(anchor.leaves) != cp.root or len(anchor.leaves) != cp.size:
            problems.append(f"{cp}: root or size is not that of its {len(anchor.leaves)} leaves")
        if by_number.setdefault(cp.number, anchor) != anchor:
            problems.append(f"{cp}: two different checkpoints carry this number")
    prior: Anchor | None = None
    for number in range(1, max(by_number, default=0) + 1):
        found = by_number.get(number)
        if found is None:
            chain = anchors[0].checkpoint.chain
            problems.append(f"checkpoint {number} of chain {chain} is missing")
        elif number == 1 or prior is not None:
            expected = payload_digest(prior.payload) if prior is not None else None
            if found.checkpoint.previous != expected:
                wanted = f"checkpoint {number - 1}'s digest" if prior is not None else "null"
                problems.append(f"{found.checkpoint}: previous is not {wanted}")
        prior = found
    return problems


def ordered(anchors: Sequence[Anchor]) -> list[Anchor]:
    """Distinct anchors by chain (in the order of each chain's first checkpoint's time),
    then number."""
    distinct = {(a.checkpoint.chain, a.checkpoint.number): a for a in anchors}
    first_at: dict[str, str] = {}
    for a in sorted(distinct.values(), key=lambda a: a.checkpoint.number):
        first_at.setdefault(a.checkpoint.chain, a.checkpoint.at)
    return sorted(
        distinct.values(),
        key=lambda a: (first_at[a.checkpoint.chain], a.checkpoint.chain, a.checkpoint.number),
    )


def first_difference(
    anchors: Sequence[Anchor], stored: Mapping[str, tuple[str, str]]
) -> str | None:
    """The first anchored fact, in (chain, number, index) order, the store does not hold
    as anchored. `stored`: fact id -> (stored hash, hash recomputed from its content)."""
    for anchor in ordered(anchors):
        for fact_id, anchored in anchor.leaves:
            found = stored.get(fact_id)
            where = f"{fact_id} differs from {anchor.checkpoint}"
            if found is None:
                return f"{where}: missing from the store, anchored {anchored}"
            hash_, recomputed = found
            if hash_ != anchored:
                return f"{where}: stored hash {hash_}, anchored {anchored}"
            if recomputed != anchored:
                return f"{where}: recomputed hash {recomputed}, anchored {anchored}"
    return None
