"""RFC 6962 Merkle tree hashes: the published structure, known roots, order and membership."""

from __future__ import annotations

import hashlib

import pytest

from service.domain.canonical import canonical
from service.domain.merkle import Leaf, leaf_hash, merkle_root, node_hash, split_point, tree_hash


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaves(n: int) -> list[Leaf]:
    return [(f"RP-1@r1/{i}", "sha256:" + f"{i:064x}") for i in range(1, n + 1)]


def lh(leaf: Leaf) -> bytes:
    return h(b"\x00" + canonical(list(leaf)))


def nh(left: bytes, right: bytes) -> bytes:
    return h(b"\x01" + left + right)


def test_a_leaf_hash_is_sha256_of_0x00_and_the_canonical_pair() -> None:
    leaf = ("RP-1@r1/1", "sha256:" + "a" * 64)
    assert canonical(list(leaf)) == b'["RP-1@r1/1","sha256:' + b"a" * 64 + b'"]'
    assert leaf_hash(leaf) == h(b"\x00" + canonical(list(leaf)))
    assert node_hash(b"l", b"r") == h(b"\x01lr")


@pytest.mark.parametrize(("n", "k"), [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1025, 1024)])
def test_the_split_is_the_largest_power_of_two_below_n(n: int, k: int) -> None:
    assert split_point(n) == k


def test_a_single_leaf_does_not_split() -> None:
    with pytest.raises(ValueError):
        split_point(1)


def test_the_tree_shapes_of_rfc_6962_for_1_2_3_5_and_8_leaves() -> None:
    d = [lh(leaf) for leaf in leaves(8)]
    assert merkle_root(leaves(1)) == "sha256:" + d[0].hex()
    assert merkle_root(leaves(2)) == "sha256:" + nh(d[0], d[1]).hex()
    assert merkle_root(leaves(3)) == "sha256:" + nh(nh(d[0], d[1]), d[2]).hex()
    four = nh(nh(d[0], d[1]), nh(d[2], d[3]))
    assert merkle_root(leaves(5)) == "sha256:" + nh(four, d[4]).hex()
    eight = nh(four, nh(nh(d[4], d[5]), nh(d[6], d[7])))
    assert merkle_root(leaves(8)) == "sha256:" + eight.hex()


def test_the_empty_tree_is_the_hash_of_nothing() -> None:
    assert merkle_root([]) == "sha256:" + h(b"").hex()


# The eight leaf inputs and tree roots of RFC 6962's reference test data (raw leaf bytes).
CT_INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("n", range(1, 9))
def test_the_tree_hash_gives_the_reference_roots(n: int) -> None:
    hashes = [h(b"\x00" + data) for data in CT_INPUTS[:n]]
    assert tree_hash(hashes).hex() == CT_ROOTS[n - 1]


def test_order_matters_and_every_leaf_counts() -> None:
    five = leaves(5)
    root = merkle_root(five)
    assert merkle_root([five[1], five[0], *five[2:]]) != root  # swapped
    assert merkle_root(five[:4]) != root  # dropped
    assert merkle_root([*five[:2], *five[3:]]) != root  # one left out in the middle
    edited = [*five[:2], (five[2][0], "sha256:" + "f" * 64), *five[3:]]
    assert merkle_root(edited) != root
    assert merkle_root(list(five)) == root  # and it is deterministic
