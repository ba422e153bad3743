"""RFC 8785 canonical JSON, the contract's sha256 digests, and manifest ids (pure)."""

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785

CanonicalizationError = rfc8785.CanonicalizationError

# `.+` is greedy, so the last "@r" splits: ids are matched back exactly as manifest_id()
# builds them, and a leading zero ("@r03") is refused because it would not round-trip.
_MANIFEST_ID = re.compile(r"(.+)@r([1-9][0-9]{0,15})")


def canonical(obj: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON-ready value; raises CanonicalizationError/ValueError."""
    return rfc8785.dumps(obj)


def digest(obj: Any) -> str:
    """`"sha256:" + hex` of the canonical form."""
    return "sha256:" + hashlib.sha256(canonical(obj)).hexdigest()


def option_set_hash(options: Sequence[Any]) -> str:
    return digest(list(options))


def _without(data: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: value for k, value in data.items() if k not in keys}


def packet_hash(data: Mapping[str, Any]) -> str:
    """Digest of the packet-ready data without its own `packet_hash` key."""
    return digest(_without(data, "packet_hash"))


def manifest_hash(data: Mapping[str, Any]) -> str:
    """Digest of the release-manifest data without its own `manifest_hash` key and without
    the `attestation` that signs it (added at publish time: service/adapters/attestation.py)."""
    return digest(_without(data, "manifest_hash", "attestation"))


def manifest_id(packet_id: str, revision: int) -> str:
    return f"{packet_id}@r{revision}"


def parse_manifest_id(value: str) -> tuple[str, int] | None:
    """The (packet_id, revision) a manifest id names, or None if it is not one."""
    match = _MANIFEST_ID.fullmatch(value)
    if match is None:
        return None
    return match.group(1), int(match.group(2))
