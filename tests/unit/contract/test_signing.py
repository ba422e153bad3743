"""Approval signatures: the example verifies, and nothing else does; verify never raises."""

import base64
from typing import Any

import pytest

from service.cli.keys import generate_keypair
from service.domain.signing import public_key_from_seed, sign, signing_input, verify
from tests.support.builders import OWNER_PUBLIC_KEY, OWNER_SEED, load, vectors

APPROVAL: dict[str, Any] = load("approval-decision.json")["data"]


def test_signing_input_is_the_canonical_data_without_signature() -> None:
    assert signing_input(APPROVAL) == vectors()["approval_signing_input"].encode("utf-8")


def test_the_example_signature_verifies_with_the_example_public_key() -> None:
    assert APPROVAL["signature"] == vectors()["approval_signature"]
    assert verify(APPROVAL, OWNER_PUBLIC_KEY)


def test_signing_with_the_test_seed_reproduces_the_vector_signature() -> None:
    # Ed25519 is deterministic, so the same seed and input give the same bytes.
    assert public_key_from_seed(OWNER_SEED) == OWNER_PUBLIC_KEY
    assert sign(APPROVAL, OWNER_SEED) == vectors()["approval_signature"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("audience", ["exec:cro", "exec:general-counseL"]),
        ("valid_until", "2026-11-30T18:05:01Z"),
        ("revision", 4),
        ("approver", "user:dana.ortiz@supporT"),
    ],
)
def test_a_one_character_change_to_the_data_fails_verification(field: str, value: Any) -> None:
    assert not verify({**APPROVAL, field: value}, OWNER_PUBLIC_KEY)


def test_an_added_field_fails_verification() -> None:
    assert not verify({**APPROVAL, "reason": "fine"}, OWNER_PUBLIC_KEY)


def test_a_wrong_key_fails_verification() -> None:
    _, other_public = generate_keypair()
    assert not verify(APPROVAL, other_public)


@pytest.mark.parametrize(
    "signature",
    [None, 42, "", "not base64!", "AAAA", APPROVAL["signature"][:-4], APPROVAL["signature"] + "AA"],
)
def test_malformed_signatures_are_false_never_an_exception(signature: Any) -> None:
    assert not verify({**APPROVAL, "signature": signature}, OWNER_PUBLIC_KEY)


@pytest.mark.parametrize("key", [b"", b"\x00" * 31, b"\x00" * 33])
def test_malformed_keys_are_false_never_an_exception(key: bytes) -> None:
    assert not verify(APPROVAL, key)


def test_data_that_cannot_be_canonicalized_is_false_never_an_exception() -> None:
    assert not verify({**APPROVAL, "revision": 2**60}, OWNER_PUBLIC_KEY)
    assert not verify({**APPROVAL, "note": "\ud800"}, OWNER_PUBLIC_KEY)


def test_a_generated_keypair_signs_and_verifies() -> None:
    seed, public = generate_keypair()
    assert len(seed) == len(public) == 32
    data = {**APPROVAL, "approver": "user:someone@else"}
    data["signature"] = sign(data, seed)
    assert verify(data, public)
    assert base64.b64decode(data["signature"], validate=True)
