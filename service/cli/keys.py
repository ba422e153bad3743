"""Ed25519 key generation; it draws OS randomness, so it stays outside the pure domain."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh (private seed, public key), both raw 32 bytes."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()
