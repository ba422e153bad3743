"""The HTTP side is an allow-list: open probes, sign-in by key possession, content by session."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.adapters.dsse import verified_payload
from service.adapters.gate_key import public_key_from_file
from service.console.sessions import Sessions
from service.domain.checkpoint import PAYLOAD_TYPE, parse_checkpoint
from service.domain.commands import PacketReady
from service.domain.governance import Governance, parse_governance
from service.entrypoints.http import GATE_KEY_PATH, HttpSide, http_app
from tests.support.builders import (
    AUDITOR,
    AUDITOR_SEED,
    GATE_KEY_FILE,
    OWNER,
    OWNER_SEED,
    SECOND_OWNER,
    SECOND_SEED,
    STRANGER_SEED,
    gate_key,
    governance_yaml,
    lane_yaml,
    packet,
)
from tests.support.console import sign_in
from tests.unit.gate.test_checkpointer import Sender, checkpointer, fact
from tests.unit.handlers.fakes import runtime

CONTENT_MARKER = "capped-credit-and-recovery-engineering"


class Broker:
    async def ping(self, timeout: float) -> bool:
        return True


class Rules:
    def __init__(self, text: str) -> None:
        self.current: Governance = parse_governance(text)


@pytest.fixture
async def served() -> AsyncIterator[tuple[httpx.AsyncClient, Rules, Any]]:
    rt, _, _ = runtime()
    rules = Rules(governance_yaml())
    rt.gate.governance = lambda: rules.current
    await rt.gate.decide_one("RP-1", PacketReady("ready-1", packet("RP-1", 1)))
    sessions = Sessions(b"k" * 32, lambda: rules.current, ttl_seconds=60)
    side = HttpSide(lambda: rt, Broker(), sessions, lambda: b'{"asyncapi":"3.0.0"}')  # type: ignore[arg-type]
    app = http_app(side, max_body_bytes=4096)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client, rules, rt


async def test_the_open_routes_answer_without_a_session(served: Any) -> None:
    client, _, _ = served
    for path in ("/healthz", "/readyz", "/metrics", "/asyncapi.json"):
        answer = await client.get(path)
        assert answer.status_code == 200, path
        assert CONTENT_MARKER not in answer.text


async def test_the_well_known_gate_key_is_the_public_half_only_and_needs_no_session(
    served: Any,
) -> None:
    client, _, rt = served
    assert (await client.get(GATE_KEY_PATH)).status_code == 503  # no key loaded yet
    rt.gate_key = gate_key()
    answer = await client.get("/.well-known/release-gate/gate-key")
    assert answer.status_code == 200
    assert answer.json() == {
        "keyid": rt.gate_key.keyid,
        "scheme": "ed25519",
        "public_key": base64.b64encode(rt.gate_key.public_raw).decode(),
        "public_key_pem": rt.gate_key.public_pem(),
    }
    private = GATE_KEY_FILE.read_text().splitlines()[1]
    assert "PRIVATE" not in answer.text and private not in answer.text
    assert (await client.post(GATE_KEY_PATH)).status_code == 405


async def test_unknown_paths_are_404_and_wrong_methods_405(served: Any) -> None:
    client, _, _ = served
    for path in ("/asyncapi", "/asyncapi/try", "/docs", "/packets", "/packets/RP-1/x"):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.post("/asyncapi/try", json={})).status_code == 404
    assert (await client.post("/healthz")).status_code == 405
    assert (await client.delete("/packets/RP-1")).status_code == 405


async def test_packet_content_needs_a_session(served: Any) -> None:
    client, _, _ = served
    answer = await client.get("/packets/RP-1")
    assert answer.status_code == 401
    assert CONTENT_MARKER not in answer.text


async def test_an_owner_signs_in_with_the_key_the_governance_file_lists_and_sees_the_packet(
    served: Any,
) -> None:
    client, _, _ = served
    signed = await sign_in(client, OWNER, OWNER_SEED)
    assert signed.status_code == 200
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    view = await client.get("/packets/RP-1")
    assert view.status_code == 200
    assert CONTENT_MARKER in view.text
    assert view.json()["revisions"][0]["state"] == "pending"


async def test_a_key_the_governance_file_does_not_list_cannot_sign_in(served: Any) -> None:
    client, _, rt = served
    refused = await sign_in(client, OWNER, STRANGER_SEED)
    assert refused.status_code == 401
    assert "set-cookie" not in refused.headers
    assert (await client.get("/packets/RP-1")).status_code == 401
    failures = rt.metrics.sign_in_failures.labels(status="401")._value.get()
    assert failures == 1


async def test_failed_sign_ins_are_throttled(served: Any) -> None:
    client, _, _ = served
    statuses = [(await sign_in(client, OWNER, STRANGER_SEED)).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert (await sign_in(client, OWNER, OWNER_SEED)).status_code == 429


async def test_a_challenge_is_good_for_one_sign_in_only(served: Any) -> None:
    client, _, _ = served
    asked = (await client.post("/session/challenge", json={"identity": OWNER})).json()
    from tests.support.console import signature_of

    proof = {"identity": OWNER, "challenge": asked["challenge"]}
    proof["signature"] = signature_of(asked["message"], OWNER_SEED)
    assert (await client.post("/session", json=proof)).status_code == 200
    assert (await client.post("/session", json=proof)).status_code == 401


async def test_dropping_the_owner_from_the_governance_file_ends_the_session(served: Any) -> None:
    client, rules, _ = served
    await sign_in(client, OWNER, OWNER_SEED)
    assert (await client.get("/packets/RP-1")).status_code == 200
    rules.current = parse_governance(
        "lanes:\n" + lane_yaml("exec-customer-review", owners=((SECOND_OWNER, SECOND_SEED),))
    )
    assert (await client.get("/packets/RP-1")).status_code == 401


async def test_a_session_sees_only_the_packets_of_its_lanes(served: Any) -> None:
    client, rules, _ = served
    rules.current = parse_governance(
        "lanes:\n"
        + lane_yaml("exec-customer-review", owners=((SECOND_OWNER, SECOND_SEED),))
        + lane_yaml("other-lane", owners=((OWNER, OWNER_SEED),))
    )
    assert (await sign_in(client, OWNER, OWNER_SEED)).status_code == 200
    answer = await client.get("/packets/RP-1")
    assert answer.status_code == 404
    assert CONTENT_MARKER not in answer.text


async def test_every_answer_carries_the_security_headers(served: Any) -> None:
    client, _, _ = served
    for answer in (await client.get("/healthz"), await client.get("/nowhere")):
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_a_body_over_the_cap_is_refused_413(served: Any) -> None:
    client, _, _ = served
    answer = await client.post("/session/challenge", content=b"{" + b" " * 5000 + b"}")
    assert answer.status_code == 413


async def test_a_gate_wide_auditor_sees_a_packet_of_no_known_lane_and_an_owner_does_not(
    served: Any,
) -> None:
    client, _, rt = served
    stray = packet("RP-9", 1, lane="no-such-lane")
    await rt.gate.decide_one("RP-9", PacketReady("ready-9", stray))
    assert (await sign_in(client, OWNER, OWNER_SEED)).status_code == 200
    assert (await client.get("/packets/RP-9")).status_code == 404
    client.cookies.clear()
    assert (await sign_in(client, AUDITOR, AUDITOR_SEED)).status_code == 200
    view = await client.get("/packets/RP-9")
    assert view.status_code == 200
    assert view.json()["revisions"][0]["state"] == "rejected"


async def test_the_latest_checkpoint_is_open_404_before_the_first_then_its_envelope(
    served: Any,
) -> None:
    client, _, rt = served
    missing = await client.get("/audit/checkpoint")
    assert missing.status_code == 404 and missing.json() == {
        "error": "no audit checkpoint published yet"
    }
    rt.checkpoints, _ = checkpointer(Sender())
    assert (await client.get("/audit/checkpoint")).status_code == 404
    rt.checkpoints.note([fact(1), fact(2)])
    await rt.checkpoints.flush()
    answer = await client.get("/audit/checkpoint")
    assert answer.status_code == 200
    assert set(answer.json()) == {"payload", "payloadType", "signatures"}  # no leaves
    payload = verified_payload(answer.json(), public_key_from_file(GATE_KEY_FILE), PAYLOAD_TYPE)
    assert parse_checkpoint(payload).size == 2
    assert (await client.post("/audit/checkpoint")).status_code == 405
