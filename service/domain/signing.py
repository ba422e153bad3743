"""Ed25519 signatures over canonical data, as approval-decision carries them (pure)."""

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.domain.canonical import canonical

_SIGNATURE_BYTES = 64
_KEY_BYTES = 32


def signing_input(data: Mapping[str, Any]) -> bytes:
    """The signed bytes: canonical `data` without its `signature` key."""
    return canonical({k: value for k, value in data.items() if k != "signature"})


def verify(data: Mapping[str, Any], public_key: bytes) -> bool:
    """True only for a valid signature by that raw 32-byte key; never raises."""
    signature = data.get("signature")
    if not isinstance(signature, str) or len(public_key) != _KEY_BYTES:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        if len(raw) != _SIGNATURE_BYTES:
            return False
        Ed25519PublicKey.from_public_bytes(public_key).verify(raw, signing_input(data))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        # ValueError also covers data that cannot be canonicalized: not a valid signature.
        return False
    return True


def sign(data: Mapping[str, Any], private_key_seed: bytes) -> str:
    """Standard base64 Ed25519 signature of signing_input(data) with a raw 32-byte seed."""
    key = Ed25519PrivateKey.from_private_bytes(private_key_seed)
    return base64.b64encode(key.sign(signing_input(data))).decode("ascii")


def public_key_from_seed(private_key_seed: bytes) -> bytes:
    """The raw 32-byte public key of a raw 32-byte private seed."""
    return Ed25519PrivateKey.from_private_bytes(private_key_seed).public_key().public_bytes_raw()
