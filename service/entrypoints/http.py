"""HTTP beside the consumers, on Starlette: an explicit allow-list of paths and methods.

Open: `GET /healthz`, `GET /readyz`, `GET /metrics` (probes and Prometheus),
`GET /asyncapi.json` (the document, served here: FastStream's own AsyncAPI route is never
mounted, since it carries a "try it out" handler that publishes to Kafka),
`GET /.well-known/release-gate/gate-key` (the public half of the key that signs release
attestations and checkpoints, service/adapters/gate_key.py) and `GET /audit/checkpoint`
(the latest signed audit checkpoint: digests only). Sign-in:
`POST /session/challenge`, `POST /session`, `DELETE /session`. Everything that shows packet
content needs a session whose roles include the packet's lane (service/console/sessions.py).
Any other path is 404, any other method 405; bodies are capped; every answer carries the
security headers of service/entrypoints/web_guard.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from faststream.kafka import KafkaBroker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.adapters.errors import TRANSIENT_ERRORS
from service.console.pages import Console, console_routes
from service.console.sessions import COOKIE, Session, Sessions, SignInRefused
from service.console.views import packet_view
from service.domain import vocab
from service.entrypoints.web_guard import guarded
from service.gate.context import GateContext
from service.telemetry.metrics import render

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Context = Callable[[], GateContext]


GATE_KEY_PATH = "/.well-known/release-gate/gate-key"


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


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
    for dependency, problem in rt.health.failing.items():
        checks[f"{dependency}-consumer"] = f"retrying: {problem[:200]}"
    ready = all(v == "ok" for v in checks.values())
    rt.metrics.ready.set(1 if ready else 0)
    checks.update({f"warning-{name}": text for name, text in rt.health.warnings.items()})
    return ready, checks


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SignInRefused("expected a JSON object", 400)
    return body


def _text(body: dict[str, Any], key: str, limit: int = 512) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise SignInRefused(f"{key}: expected a string of at most {limit} characters", 400)
    return value


class HttpSide:
    """The routes' handlers, over what the service owns (resolved per request)."""

    def __init__(
        self,
        context: Context,
        broker: KafkaBroker,
        sessions: Sessions,
        asyncapi: Callable[[], bytes],
        secure_cookies: bool = False,
        starting: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.context, self.broker, self.sessions = context, broker, sessions
        self.asyncapi, self.secure_cookies = asyncapi, secure_cookies
        # What start-up is doing (None once started: service/entrypoints/lifespan.py).
        self.starting = starting

    def session(self, request: Request) -> Session | None:
        return self.sessions.open(request.cookies.get(COOKIE))

    async def healthz(self, _: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(self, _: Request) -> Response:
        starting = self.starting()
        if starting is not None:
            return JSONResponse({"ready": False, "starting": starting}, status_code=503)
        ready, checks = await readiness(self.context(), self.broker)
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    async def metrics(self, _: Request) -> Response:
        body = render(self.context().metrics.registry)
        return Response(body, media_type="text/plain; version=0.0.4")

    async def asyncapi_json(self, _: Request) -> Response:
        return Response(self.asyncapi(), media_type="application/json")

    async def gate_key(self, _: Request) -> Response:
        """What verifiers of release attestations need: the public key, never the private."""
        key = self.context().gate_key
        if key is None:
            return error(503, "the gate key is not loaded")
        return JSONResponse(key.describe())

    async def audit_checkpoint(self, _: Request) -> Response:
        """The latest checkpoint this instance published: its DSSE envelope only (digests,
        no packet content; the leaves are on the topic)."""
        checkpoints = self.context().checkpoints
        latest = checkpoints.latest if checkpoints is not None else None
        if latest is None:
            return error(404, "no audit checkpoint published yet")
        return JSONResponse(latest)

    async def challenge(self, request: Request) -> Response:
        try:
            identity = _text(await _json_body(request), "identity", vocab.IDENTITY_MAX)
            return JSONResponse(self.sessions.challenge(identity))
        except SignInRefused as refused:
            return error(refused.status, refused.reason)

    async def sign_in(self, request: Request) -> Response:
        rt = self.context()
        client = request.client.host if request.client else "unknown"
        body: dict[str, Any] = {}
        try:
            body = await _json_body(request)
            identity = _text(body, "identity", vocab.IDENTITY_MAX)
            nonce, signature = _text(body, "challenge"), _text(body, "signature")
            value, session = self.sessions.sign_in(identity, nonce, signature, client)
        except SignInRefused as refused:
            rt.metrics.sign_in_failures.labels(status=str(refused.status)).inc()
            # Who and from where, never the challenge or the signature.
            who = str(body.get("identity"))[:256]
            extra = {"reason": refused.reason, "identity": who, "client": client}
            rt.log.warning("sign-in refused", extra=extra)
            return error(refused.status, refused.reason)
        rt.log.info(
            "signed in", extra={"identity": session.identity, "lanes": sorted(session.roles)}
        )
        answer = JSONResponse(
            {"identity": session.identity, "roles": session.roles, "csrf": session.csrf}
        )
        answer.set_cookie(
            COOKIE,
            value,
            max_age=int(self.sessions.ttl),
            httponly=True,
            samesite="strict",
            secure=self.secure_cookies or request.url.scheme == "https",
            path="/",
        )
        return answer

    async def sign_out(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return error(401, "not signed in")
        if request.headers.get("x-csrf-token") != session.csrf:
            return error(403, "missing or wrong CSRF token")
        answer = Response(status_code=204)
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    async def packet(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return error(401, "sign in first")
        packet_id = request.path_params["packet_id"]
        if not packet_id or len(packet_id) > vocab.ID_MAX:
            return error(400, "bad packet id")
        try:
            view = await packet_view(self.context(), packet_id)
        except TRANSIENT_ERRORS:
            return error(503, "store unavailable")
        # Unknown and not-yours look the same: a session learns nothing about other lanes.
        lanes = view["lanes"] if view is not None else []
        if view is None or not any(session.may_see(lane) for lane in lanes or [None]):
            return error(404, "no such packet in your lanes")
        return JSONResponse(view)


def route_table(side: HttpSide, console: Console | None = None) -> list[Route]:
    """The whole allow-list; `console` adds the release owners' pages (service/console/)."""
    routes = [
        Route("/healthz", side.healthz, methods=["GET"]),
        Route("/readyz", side.readyz, methods=["GET"]),
        Route("/metrics", side.metrics, methods=["GET"]),
        Route("/asyncapi.json", side.asyncapi_json, methods=["GET"]),
        Route(GATE_KEY_PATH, side.gate_key, methods=["GET"]),
        Route("/audit/checkpoint", side.audit_checkpoint, methods=["GET"]),
        Route("/session/challenge", side.challenge, methods=["POST"]),
        Route("/session", side.sign_in, methods=["POST"]),
        Route("/session", side.sign_out, methods=["DELETE"]),
        Route("/packets/{packet_id}", side.packet, methods=["GET"]),
    ]
    if console is not None:
        routes += console_routes(console)
    return routes


# What answers while start-up is still waiting for the store or Kafka; the rest is 503.
OPEN_WHILE_STARTING = frozenset({"/healthz", "/readyz"})


def until_started(app: ASGIApp, side: HttpSide) -> ASGIApp:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        starting = scope["type"] == "http" and scope["path"] not in OPEN_WHILE_STARTING
        if starting and side.starting() is not None:
            await error(503, "starting: see /readyz")(scope, receive, send)
            return
        await app(scope, receive, send)

    return serve


def http_app(side: HttpSide, max_body_bytes: int, console: Console | None = None) -> ASGIApp:
    app = Starlette(routes=route_table(side, console))
    return guarded(until_started(app, side), max_body_bytes)


def router(lifespan_app: ASGIApp, http: ASGIApp) -> ASGIApp:
    """Lifespan to FastStream (starts and stops the consumers); HTTP to our routes only."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan_app(scope, receive, send)
        elif scope["type"] == "http":
            await http(scope, receive, send)
        else:  # websockets: nothing here speaks them
            await send({"type": "websocket.close", "code": 1008})

    return serve
