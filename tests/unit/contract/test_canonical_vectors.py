"""The canonical form and digests equal the contract's independently produced vectors."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.canonical import (
    canonical,
    digest,
    manifest_hash,
    manifest_id,
    option_set_hash,
    packet_hash,
    parse_manifest_id,
)
from tests.support.builders import load, vectors

PACKET = load("packet-ready.json")["data"]
MANIFEST = load("release-manifest.data.json")["data"]


def test_canonical_option_set_bytes_equal_the_vector() -> None:
    assert canonical(PACKET["options"]) == vectors()["canonical_option_set"].encode("utf-8")


def test_option_set_hash_matches_the_independent_vector() -> None:
    assert option_set_hash(PACKET["options"]) == vectors()["option_set_hash"]
    assert PACKET["option_set_hash"] == vectors()["option_set_hash"]


def test_packet_hash_matches_the_vector_and_excludes_only_its_own_key() -> None:
    assert packet_hash(PACKET) == vectors()["packet_hash"] == PACKET["packet_hash"]
    without = {k: v for k, v in PACKET.items() if k != "packet_hash"}
    assert packet_hash(without) == vectors()["packet_hash"]


def test_manifest_hash_matches_the_vector() -> None:
    assert manifest_hash(MANIFEST) == vectors()["manifest_hash"] == MANIFEST["manifest_hash"]


def test_an_independent_hashlib_route_over_hand_written_bytes_equals_digest() -> None:
    hand_written = vectors()["canonical_option_set"].encode("utf-8")
    independent = "sha256:" + hashlib.sha256(hand_written).hexdigest()
    assert independent == digest(PACKET["options"]) == vectors()["option_set_hash"]


def test_key_order_and_whitespace_do_not_change_a_digest() -> None:
    reordered = [dict(reversed(list(option.items()))) for option in PACKET["options"]]
    assert option_set_hash(reordered) == vectors()["option_set_hash"]


def test_one_changed_character_changes_the_packet_hash() -> None:
    changed = {**PACKET, "title": PACKET["title"] + "."}
    assert packet_hash(changed) != PACKET["packet_hash"]


def test_canonical_refuses_integers_beyond_the_json_safe_range() -> None:
    with pytest.raises(ValueError):
        canonical({"n": 2**60})


def test_manifest_id_is_packet_at_r_revision() -> None:
    assert manifest_id("RP-2026-0042", 3) == "RP-2026-0042@r3" == MANIFEST["manifest_id"]
    assert parse_manifest_id("RP-2026-0042@r3") == ("RP-2026-0042", 3)


@pytest.mark.parametrize(
    "value", ["RP-1", "RP-1@r", "RP-1@r0", "RP-1@r03", "RP-1@r-3", "@r3", "RP-1@r3\n", "RP-1@3"]
)
def test_parse_manifest_id_refuses_what_manifest_id_never_builds(value: str) -> None:
    assert parse_manifest_id(value) is None


@settings(max_examples=100)
@given(
    packet_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,40}", fullmatch=True),
    revision=st.integers(min_value=1, max_value=2**53 - 1),
)
def test_parse_manifest_id_inverts_manifest_id(packet_id: str, revision: int) -> None:
    assert parse_manifest_id(manifest_id(packet_id, revision)) == (packet_id, revision)
