"""Ed25519 key generation and the key files a release owner keeps (outside the pure domain:
it draws OS randomness and writes files)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh (private seed, public key), both raw 32 bytes."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()


def pkcs8_pem(seed: bytes) -> bytes:
    """The seed as an unencrypted PKCS#8 PEM: what WebCrypto imports (`importKey("pkcs8")`)."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, content: bytes) -> None:
    """Create `path` readable by its owner only, from the first byte; never overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)


def write_key_files(pem_path: Path, seed: bytes) -> Path:
    """The PKCS#8 PEM at `pem_path`, and the raw base64 seed beside it (`.seed`)."""
    seed_path = pem_path.with_suffix(".seed")
    for path in (pem_path, seed_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; refusing to overwrite a key")
    write_private(pem_path, pkcs8_pem(seed))
    write_private(seed_path, base64.b64encode(seed) + b"\n")
    return seed_path
