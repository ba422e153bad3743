"""Sign-in by key possession and the session it opens.

A release owner (or a lane's auditor) asks for a single-use challenge, signs its message
with the Ed25519 key the governance file lists for them, and gets a session: an HttpOnly,
SameSite=Strict cookie holding who they are, which key signed, when it ends and a CSRF
token, sealed with an HMAC so any instance sharing the secret can check it. Every request
re-checks the identity and key against the governance file in force, so dropping an owner
or a key ends their sessions at once. Nothing here logs a challenge or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.domain.governance import GATE_WIDE, Governance

COOKIE = "rg_session"
CHALLENGE_PREFIX = "release-gate sign-in"


@dataclass(frozen=True)
class Session:
    identity: str
    key_fingerprint: str
    expires: float
    csrf: str
    roles: dict[str, str]  # lane_id -> owner | auditor, as the governance file says now

    def may_see(self, lane_id: str | None) -> bool:
        """A lane's owners and auditors see its packets; a gate-wide auditor sees all."""
        return GATE_WIDE in self.roles or (lane_id is not None and lane_id in self.roles)

    def owns(self, lane_id: str | None) -> bool:
        return lane_id is not None and self.roles.get(lane_id) == "owner"


def fingerprint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignInRefused(Exception):
    """Why a sign-in failed, in words safe to show and log (never the challenge or signature)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Throttle:
    """At most `limit` failed sign-ins per key (identity, client) in `window` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.failures: dict[str, deque[float]] = {}

    def blocked(self, key: str) -> bool:
        recent = self.failures.get(key)
        if not recent:
            return False
        while recent and recent[0] <= self.clock() - self.window:
            recent.popleft()
        return len(recent) >= self.limit

    def failed(self, key: str) -> None:
        self.failures.setdefault(key, deque()).append(self.clock())
        if len(self.failures) > 10_000:  # bounded: forget the oldest keys
            self.failures.pop(next(iter(self.failures)))


class Sessions:
    def __init__(
        self,
        secret: bytes,
        governance: Callable[[], Governance],
        ttl_seconds: float,
        challenge_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.governance = governance
        self.ttl = ttl_seconds
        self.challenge_ttl = challenge_seconds
        self.clock = clock
        self.challenges: dict[str, tuple[str, float]] = {}  # nonce -> (identity, expires)
        self.throttle = Throttle(limit=5, window=60.0, clock=clock)

    def challenge(self, identity: str) -> dict[str, str | float]:
        """A single-use challenge for `identity`, and the exact message to sign."""
        self._forget_expired()
        if len(self.challenges) > 10_000:
            raise SignInRefused("too many sign-ins in progress; try again shortly", 429)
        nonce = secrets.token_urlsafe(24)
        expires = self.clock() + self.challenge_ttl
        self.challenges[nonce] = (identity, expires)
        return {"challenge": nonce, "message": message(identity, nonce), "expires": expires}

    def sign_in(
        self, identity: str, nonce: str, signature: str, client: str
    ) -> tuple[str, Session]:
        """Check the signed challenge; the sealed cookie value and the session it opens."""
        throttle_key = f"{identity}|{client}"
        if self.throttle.blocked(throttle_key):
            raise SignInRefused("too many failed sign-ins; wait a minute", 429)
        try:
            return self._sign_in(identity, nonce, signature)
        except SignInRefused:
            self.throttle.failed(throttle_key)
            raise

    def _sign_in(self, identity: str, nonce: str, signature: str) -> tuple[str, Session]:
        issued = self.challenges.pop(nonce, None)  # single use, whatever happens next
        if issued is None or issued[0] != identity or issued[1] < self.clock():
            raise SignInRefused("unknown, used or expired challenge")
        key = self._signing_key(identity, message(identity, nonce), signature)
        if key is None:
            raise SignInRefused("the signature is not by a key the governance file lists")
        token = {
            "sub": identity,
            "key": fingerprint(key),
            "exp": self.clock() + self.ttl,
            "csrf": secrets.token_urlsafe(24),
        }
        value = self._seal(token)
        session = self.open(value)
        if session is None:  # listed, but in no lane: nothing to show
            raise SignInRefused("this identity holds no role in any lane", 403)
        return value, session

    def _signing_key(self, identity: str, text: str, signature: str) -> bytes | None:
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return None
        for key in self.governance().keys_of(identity):
            try:
                Ed25519PublicKey.from_public_bytes(key).verify(raw, text.encode())
            except (InvalidSignature, ValueError):
                continue
            return key
        return None

    def open(self, value: str | None) -> Session | None:
        """The session a cookie holds, if it is sealed by us, unexpired and still backed by
        the governance file in force (identity listed with the key that signed in)."""
        token = self._unseal(value) if value else None
        if token is None:
            return None
        expires = token.get("exp")
        if not isinstance(expires, int | float) or expires < self.clock():
            return None
        governance = self.governance()
        for key in governance.keys_of(str(token["sub"])):
            if hmac.compare_digest(fingerprint(key), str(token["key"])):
                roles = governance.roles_of(str(token["sub"]), key)
                if roles:
                    return Session(
                        str(token["sub"]),
                        str(token["key"]),
                        float(expires),
                        str(token["csrf"]),
                        roles,
                    )
        return None

    def _seal(self, token: dict[str, object]) -> str:
        body = _b64(json.dumps(token, separators=(",", ":"), sort_keys=True).encode())
        mac = _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())
        return f"{body}.{mac}"

    def _unseal(self, value: str) -> dict[str, object] | None:
        body, _, mac = value.partition(".")
        expected = _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())
        if not mac or not hmac.compare_digest(mac, expected):
            return None
        try:
            token = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        return (
            token
            if isinstance(token, dict) and {"sub", "key", "exp", "csrf"} <= set(token)
            else None
        )

    def _forget_expired(self) -> None:
        now = self.clock()
        for nonce in [n for n, (_, exp) in self.challenges.items() if exp < now]:
            del self.challenges[nonce]


def message(identity: str, nonce: str) -> str:
    """The exact text a release owner signs to sign in (UTF-8)."""
    return f"{CHALLENGE_PREFIX}\nidentity: {identity}\nchallenge: {nonce}\n"
