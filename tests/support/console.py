"""Signing in to the console as a release owner or auditor does: sign the server's challenge."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def signature_of(message: str, seed: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return base64.b64encode(key.sign(message.encode())).decode()


async def sign_in(client: httpx.AsyncClient, identity: str, seed: bytes) -> httpx.Response:
    """Ask for a challenge, sign its message with `seed`, present it; the client keeps the
    session cookie when the sign-in succeeds."""
    asked = await client.post("/session/challenge", json={"identity": identity})
    asked.raise_for_status()
    challenge: dict[str, Any] = asked.json()
    proof = {
        "identity": identity,
        "challenge": challenge["challenge"],
        "signature": signature_of(str(challenge["message"]), seed),
    }
    return await client.post("/session", json=proof)
