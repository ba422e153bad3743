"""Start-up runs beside HTTP (service/entrypoints/lifespan.py): what the server is told, when."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from aiokafka.errors import KafkaConnectionError

from service.console.sessions import Sessions
from service.domain.governance import parse_governance
from service.entrypoints.http import HttpSide, http_app
from service.entrypoints.lifespan import beside_http
from service.telemetry.health import ConnectionProblems, StartUp
from tests.support.builders import governance_yaml


class Inner:
    """A stand-in for FastStream's lifespan: start-up waits for `go`, then completes or fails."""

    def __init__(self, fail: bool = False) -> None:
        self.go = asyncio.Event()
        self.fail = fail
        self.shut_down = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await self.go.wait()
        if self.fail:
            await send({"type": "lifespan.startup.failed", "message": "Traceback\nBoom: no"})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()
        self.shut_down = True
        await send({"type": "lifespan.shutdown.complete"})


class Server:
    """uvicorn's side of the lifespan protocol."""

    def __init__(self) -> None:
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()


async def run(inner: Inner, startup: StartUp) -> tuple[Server, asyncio.Task[None], list[str]]:
    abandoned: list[str] = []

    async def abandon() -> None:
        abandoned.append("closed")

    app = beside_http(inner, startup, abandon, logging.getLogger("test"))
    server = Server()
    task = asyncio.create_task(app({"type": "lifespan"}, server.to_app.get, server.from_app.put))
    await server.to_app.put({"type": "lifespan.startup"})
    return server, task, abandoned


async def test_the_server_hears_start_up_is_complete_before_the_service_is_started() -> None:
    inner, startup = Inner(), StartUp()
    server, task, abandoned = await run(inner, startup)
    assert await server.from_app.get() == {"type": "lifespan.startup.complete"}
    assert startup.status() == "starting"
    inner.go.set()
    while not startup.done:
        await asyncio.sleep(0)
    assert startup.status() is None
    await server.to_app.put({"type": "lifespan.shutdown"})
    assert await server.from_app.get() == {"type": "lifespan.shutdown.complete"}
    await task
    assert inner.shut_down and abandoned == []


async def test_a_failed_start_up_stops_the_server_and_is_shown_as_failed() -> None:
    inner, startup = Inner(fail=True), StartUp()
    stopped = asyncio.Event()
    startup.on_failure = stopped.set
    server, task, abandoned = await run(inner, startup)
    await server.from_app.get()
    inner.go.set()
    await stopped.wait()
    assert startup.failed == "Boom: no"
    assert startup.status() == "failed: Boom: no"
    await server.to_app.put({"type": "lifespan.shutdown"})
    assert await server.from_app.get() == {"type": "lifespan.shutdown.complete"}
    await task
    assert abandoned == ["closed"]


async def test_a_shutdown_during_start_up_abandons_it_and_closes_what_it_opened() -> None:
    inner, startup = Inner(), StartUp()
    server, task, abandoned = await run(inner, startup)
    await server.from_app.get()
    await server.to_app.put({"type": "lifespan.shutdown"})
    assert await server.from_app.get() == {"type": "lifespan.shutdown.complete"}
    await task
    assert abandoned == ["closed"] and not inner.shut_down


def test_the_reason_aiokafka_logs_for_a_refused_connection_is_kept_whole() -> None:
    problems = ConnectionProblems()
    log = logging.getLogger("aiokafka.test-only")
    log.addHandler(problems)
    try:
        error = KafkaConnectionError("SaslAuthenticationFailed: invalid credentials")
        log.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9094, error)
        log.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9094, OSError("refused"))
        assert problems.last == "OSError: refused"
        log.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9094, error)
        log.error("something else: %s", KafkaConnectionError("not this one"))
    finally:
        log.removeHandler(problems)
    # Its text names its type already: not twice.
    assert problems.last == "KafkaConnectionError: SaslAuthenticationFailed: invalid credentials"


async def test_while_starting_only_the_probes_answer_and_readyz_says_what_it_waits_for() -> None:
    startup = StartUp(waiting="waiting for kafka: SaslAuthenticationFailed: no")

    def context() -> Any:
        raise AssertionError("no route may reach the runtime before start-up is done")

    sessions = Sessions(b"k" * 32, lambda: parse_governance(governance_yaml()), ttl_seconds=60)
    side = HttpSide(context, None, sessions, lambda: b"{}", starting=startup.status)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=http_app(side, max_body_bytes=4096))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
        rest = [await client.get(p) for p in ("/metrics", "/asyncapi.json", "/console")]
    assert (ready.status_code, ready.json()) == (
        503,
        {"ready": False, "starting": "waiting for kafka: SaslAuthenticationFailed: no"},
    )
    assert alive.status_code == 200
    assert [r.status_code for r in rest] == [503, 503, 503]
    assert ready.headers["x-frame-options"] == "DENY"  # the security headers as always
