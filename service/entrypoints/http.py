"""HTTP beside the consumers: health, readiness, metrics and the audit view of a packet."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol
from urllib.parse import unquote

from faststream.kafka import KafkaBroker

from service.adapters.errors import TRANSIENT_ERRORS
from service.domain.canonical import manifest_id
from service.domain.facts import group_by_revision, verify_chain
from service.domain.revision import fold_packet
from service.domain.times import format_time
from service.gate.context import GateContext
from service.telemetry.metrics import render

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
JSON = "application/json"
ROUTES = ("/healthz", "/readyz", "/metrics")


async def respond(send: Send, status: int, body: bytes, content_type: str = JSON) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def as_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2).encode()


async def readiness(rt: GateContext, broker: KafkaBroker) -> tuple[bool, dict[str, str]]:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(rt.store.ping(), timeout=2)
        checks["store"] = "ok"
    except TRANSIENT_ERRORS as exc:
        checks["store"] = f"unreachable: {type(exc).__name__}"
    checks["kafka"] = "ok" if await broker.ping(timeout=2) else "unreachable"
    joining = rt.health.joining()
    checks["consumers"] = f"joining the group: {', '.join(joining)}" if joining else "ok"
    for dependency, error in rt.health.failing.items():
        checks[f"{dependency}-consumer"] = f"retrying: {error[:200]}"
    ready = all(v == "ok" for v in checks.values())
    rt.metrics.ready.set(1 if ready else 0)
    return ready, checks


async def packet_view(rt: GateContext, packet_id: str) -> dict[str, Any] | None:
    facts = await rt.store.load_packet(packet_id)
    if not facts:
        return None
    packet = fold_packet(packet_id, facts)
    logs = group_by_revision(facts)
    revisions = []
    for number, rev in sorted(packet.items()):
        broken = verify_chain(logs[number])
        due = rev.next_due()
        revisions.append(
            {
                "revision": number,
                "manifest_id": manifest_id(packet_id, number),
                "state": None if rev.state is None else rev.state.value,
                "next_due": None if due is None else format_time(due),
                "chain": "ok" if broken is None else f"broken at {broken}",
                "facts": [f.to_json() for f in logs[number]],
            }
        )
    return {"packet_id": packet_id, "revisions": revisions}


class HasRuntime(Protocol):
    @property
    def rt(self) -> GateContext: ...


def router(app: ASGIApp, service: HasRuntime, broker: KafkaBroker) -> ASGIApp:
    """Serve our routes, hand everything else (lifespan, AsyncAPI) to the FastStream app."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["path"] not in ROUTES and not scope["path"].startswith("/packets/")
        ):
            await app(scope, receive, send)
            return
        rt = service.rt
        path = scope["path"]
        if path == "/healthz":
            await respond(send, 200, b'{"status":"alive"}')
        elif path == "/readyz":
            ready, checks = await readiness(rt, broker)
            await respond(send, 200 if ready else 503, as_json({"ready": ready, **checks}))
        elif path == "/metrics":
            await respond(send, 200, render(rt.metrics.registry), "text/plain; version=0.0.4")
        else:
            await _packet(rt, unquote(path.removeprefix("/packets/")), send)

    return serve


async def _packet(rt: GateContext, packet_id: str, send: Send) -> None:
    if not packet_id or "/" in packet_id or len(packet_id) > 128:
        await respond(send, 400, as_json({"error": "bad packet id"}))
        return
    try:
        view = await packet_view(rt, packet_id)
    except TRANSIENT_ERRORS:
        await respond(send, 503, as_json({"error": "store unavailable"}))
        return
    if view is None:
        await respond(send, 404, as_json({"error": f"no packet {packet_id}"}))
    else:
        await respond(send, 200, as_json(view))
