"""RFC 6962 Merkle tree hashes over (fact id, fact hash) leaves (pure).

Leaf hash: SHA-256(0x00 || RFC 8785 bytes of [fact_id, fact_hash]); node hash:
SHA-256(0x01 || left || right); a list of n > 1 leaves splits at k, the largest power of
two below n (RFC 6962 §2.1). Leaf and node hashes differ in their first byte, so no node
can pass for a leaf. The empty tree's hash is SHA-256 of nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from service.domain.canonical import canonical

Leaf = tuple[str, str]  # (fact id, fact hash "sha256:<hex>")


def leaf_hash(leaf: Leaf) -> bytes:
    fact_id, fact_hash = leaf
    return hashlib.sha256(b"\x00" + canonical([fact_id, fact_hash])).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    if n < 2:
        raise ValueError("only a tree of two or more leaves splits")
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def tree_hash(hashes: Sequence[bytes]) -> bytes:
    """The tree hash over leaf hashes already computed."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    return node_hash(tree_hash(hashes[:k]), tree_hash(hashes[k:]))


def merkle_root(leaves: Sequence[Leaf]) -> str:
    """`"sha256:" + hex` of the tree hash over the leaves, in their order."""
    return "sha256:" + tree_hash([leaf_hash(leaf) for leaf in leaves]).hex()
