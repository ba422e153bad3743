"""Release attestations with securesystemslib: the gate signs each release manifest's in-toto
statement (service/domain/attestation.py) into a DSSE envelope, and anyone holding its public
key checks one. The library makes and verifies the envelope; nothing here encodes DSSE.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import FormatError, VerificationError
from securesystemslib.signer import Signer, SSlibKey  # type: ignore[attr-defined]

from service.adapters.gate_key import GateKey
from service.domain.attestation import (
    PAYLOAD_TYPE,
    PREDICATE_FIELDS,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    manifest_hash_problems,
    missing_fields,
    statement_of,
    statement_payload,
    statement_problems,
)
from service.domain.canonical import manifest_hash

MANIFEST_TYPE = "release-manifest"


def sign_statement(statement: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """A DSSE envelope (JSON form) over the statement's canonical bytes, signed by `signer`."""
    envelope = Envelope(statement_payload(statement), PAYLOAD_TYPE, {})
    envelope.sign(signer)
    signed: dict[str, Any] = envelope.to_dict()
    return signed


class Attestor:
    """Signs release manifests with the gate key. Ed25519 is deterministic and the payload
    canonical, so the same manifest under the same key is attested byte for byte the same."""

    def __init__(self, key: GateKey) -> None:
        self.key = key

    def attestation(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return sign_statement(statement_of(data), self.key.signer)

    def attested(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The manifest data with its `attestation` (any earlier one replaced)."""
        plain = {k: v for k, v in data.items() if k != "attestation"}
        return {**plain, "attestation": self.attestation(plain)}

    def event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """An outbound CloudEvent, its data attested if it is a release manifest."""
        if event.get("type") != MANIFEST_TYPE:
            return dict(event)
        return {**event, "data": self.attested(event["data"])}


@dataclass
class Verification:
    manifest_id: str
    passed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_manifest(data: Mapping[str, Any], public: Ed25519PublicKey) -> Verification:
    """Check a release manifest's data and its attestation against the gate's public key:
    the signature, the payload type, the statement, its subject and every predicate field."""
    result = Verification(str(data.get("manifest_id")))
    missing = missing_fields(data)
    if missing:
        result.problems.append(f"manifest: missing {', '.join(missing)}")
        return result
    hash_problems = manifest_hash_problems(data)
    result.problems += hash_problems
    if not hash_problems:
        result.passed.append(f"manifest_hash: {data['manifest_hash']}, what the content hashes to")
    envelope = envelope_of(data.get("attestation"), result)
    if envelope is None:
        return result
    check_signature(envelope, SSlibKey.from_crypto(public), result)
    check_statement(envelope, data, result)
    return result


def envelope_of(attestation: Any, result: Verification) -> Envelope | None:
    if attestation is None:
        result.problems.append("attestation: the manifest carries none")
        return None
    try:
        # from_dict rewrites the signatures it is given: hand it a copy.
        envelope: Envelope = Envelope.from_dict(copy.deepcopy(attestation))
    except (KeyError, TypeError, ValueError, AttributeError, FormatError) as exc:
        result.problems.append(f"attestation: not a DSSE envelope ({type(exc).__name__}: {exc})")
        return None
    return envelope


def check_signature(envelope: Envelope, key: SSlibKey, result: Verification) -> None:
    try:
        envelope.verify([key], 1)
    except VerificationError:
        signers = ", ".join(sorted(envelope.signatures)) or "nobody"
        if key.keyid in envelope.signatures:
            result.problems.append(f"signature: does not verify under the given key {key.keyid}")
        else:
            result.problems.append(
                f"signature: not by the given key (keyid {key.keyid}); signed by {signers}"
            )
        return
    result.passed.append(f"signature: DSSE, ed25519, by the given key (keyid {key.keyid})")


def check_statement(envelope: Envelope, data: Mapping[str, Any], result: Verification) -> None:
    if envelope.payload_type != PAYLOAD_TYPE:
        result.problems.append(f"payload type: {envelope.payload_type!r}, not {PAYLOAD_TYPE}")
    else:
        result.passed.append(f"payload type: {PAYLOAD_TYPE}")
    try:
        statement = json.loads(envelope.payload)
    except ValueError:
        result.problems.append("statement: the payload is not JSON")
        return
    problems = statement_problems(statement, data)
    result.problems += problems
    if not problems:
        result.passed += [
            f"statement: {STATEMENT_TYPE}, predicateType {PREDICATE_TYPE}",
            f"subject: {data['manifest_id']} with digest {manifest_hash(data)}, "
            "the recomputed manifest_hash",
            f"predicate: {len(PREDICATE_FIELDS)} fields equal the manifest's "
            f"({', '.join(PREDICATE_FIELDS)})",
        ]
