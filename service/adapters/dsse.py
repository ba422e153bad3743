"""DSSE envelopes around the gate's signed payloads, made and checked by securesystemslib
(/work/shared/DESIGN.md §7 is where its API was read): never assembled by hand."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import FormatError, VerificationError
from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

from service.adapters.gate_key import GateKey


class EnvelopeRefused(ValueError):
    """An envelope that is malformed, of another payload type, or not signed by the key."""


def sign_payload(gate_key: GateKey, payload: bytes, payload_type: str) -> dict[str, Any]:
    """The DSSE envelope (JSON-ready) of `payload`, signed with the gate's key."""
    envelope = Envelope(payload=payload, payload_type=payload_type, signatures={})
    envelope.sign(gate_key.signer)
    result: dict[str, Any] = envelope.to_dict()
    return result


def verified_payload(
    envelope: Mapping[str, Any], key: Ed25519PublicKey, payload_type: str
) -> bytes:
    """The payload of an envelope a signature by `key` verifies; EnvelopeRefused otherwise."""
    try:
        # from_dict rewrites the signatures it reads: give it a copy.
        parsed = Envelope.from_dict(copy.deepcopy(dict(envelope)))
    except (KeyError, TypeError, ValueError, FormatError) as exc:
        raise EnvelopeRefused(f"not a DSSE envelope: {type(exc).__name__}") from None
    if parsed.payload_type != payload_type:
        raise EnvelopeRefused(f"payload type {parsed.payload_type!r}, not {payload_type!r}")
    try:
        parsed.verify([SSlibKey.from_crypto(key)], threshold=1)
    except VerificationError:
        raise EnvelopeRefused("no signature verifies with the given public key") from None
    payload: bytes = parsed.payload
    return payload
