"""The gate's own Ed25519 signing key: it signs release attestations and audit checkpoints.

Loaded from an unencrypted PKCS#8 PEM file (`GATE_KEY_FILE`, a mounted Secret in
production); its public half is what verifiers hold (`GET /.well-known/release-gate/gate-key`).
Signing goes through securesystemslib's `CryptoSigner`, so DSSE envelopes are made by the
library, not by hand (docs/security.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]


class GateKeyError(ValueError):
    """The gate key is missing or not an Ed25519 key; the message names the file only."""


@dataclass(frozen=True)
class GateKey:
    signer: CryptoSigner
    public_raw: bytes  # raw 32-byte Ed25519 public key

    @property
    def keyid(self) -> str:
        return str(self.signer.public_key.keyid)

    def public_pem(self) -> str:
        key = Ed25519PublicKey.from_public_bytes(self.public_raw)
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    def describe(self) -> dict[str, Any]:
        """What a verifier needs, and nothing secret."""
        return {
            "keyid": self.keyid,
            "scheme": "ed25519",
            "public_key": base64.b64encode(self.public_raw).decode("ascii"),
            "public_key_pem": self.public_pem(),
        }


def gate_key_from_private(key: Ed25519PrivateKey) -> GateKey:
    public = SSlibKey.from_crypto(key.public_key())
    return GateKey(CryptoSigner(key, public), key.public_key().public_bytes_raw())


def load_gate_key(path: Path) -> GateKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise GateKeyError(f"GATE_KEY_FILE: cannot read {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # The content is a secret: the message names the file, never what is in it.
        raise GateKeyError(f"GATE_KEY_FILE: {path} is not an unencrypted PKCS#8 PEM") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise GateKeyError(f"GATE_KEY_FILE: {path} holds a key that is not Ed25519")
    return gate_key_from_private(key)


def public_key_from_file(path: Path) -> Ed25519PublicKey:
    """A verifier's key file: a PEM public key, a PEM private key, or raw base64 (32 bytes)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise GateKeyError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if b"PRIVATE KEY" in text:
            private = serialization.load_pem_private_key(text, password=None)
            if isinstance(private, Ed25519PrivateKey):
                return private.public_key()
        elif b"PUBLIC KEY" in text:
            public = serialization.load_pem_public_key(text)
            if isinstance(public, Ed25519PublicKey):
                return public
        else:
            return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
    except (ValueError, TypeError):
        pass
    raise GateKeyError(f"{path} is not an Ed25519 public key (PEM or base64 of 32 bytes)")
