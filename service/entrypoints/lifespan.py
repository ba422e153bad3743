"""Start-up beside HTTP: uvicorn opens its port at once, /readyz says what start-up waits for.

uvicorn serves HTTP only after the ASGI lifespan's start-up is complete, and the service's
start-up waits for the store and Kafka (`until_available` in service/entrypoints/app.py), for a
minute before it gives up. Behind a wrong Kafka password or an untrusted certificate nothing
would answer meanwhile. So this tells uvicorn at once that start-up is complete and drives
FastStream's own lifespan beside it: /healthz answers, /readyz is 503 with `starting: waiting
for kafka: <reason>`, every other route is 503 (service/entrypoints/http.py). Once FastStream's
start-up is complete the service is what it always was. A failed start-up stops the server
(`StartUp.on_failure`; `run` then exits 3, as uvicorn does for a failed lifespan); a shutdown
during start-up abandons it and closes what it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from service.telemetry.health import StartUp

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def beside_http(
    inner: ASGIApp,
    startup: StartUp,
    abandon: Callable[[], Awaitable[None]],
    log: logging.Logger,
) -> ASGIApp:
    """The lifespan of `inner` (FastStream's), run in the background of the server's.
    `abandon` closes what a start-up that did not complete has opened."""

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        to_inner: asyncio.Queue[Message] = asyncio.Queue()
        from_inner: asyncio.Queue[Message] = asyncio.Queue()
        await to_inner.put(await receive())  # lifespan.startup
        inner_task = asyncio.ensure_future(inner(scope, to_inner.get, from_inner.put))
        follower = asyncio.create_task(_follow(from_inner, startup, log))
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        if not startup.done:
            for task in (follower, inner_task):
                task.cancel()
            await asyncio.gather(follower, inner_task, return_exceptions=True)
            with contextlib.suppress(Exception):
                await abandon()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await to_inner.put({"type": "lifespan.shutdown"})
        reply = await from_inner.get()
        await asyncio.gather(inner_task, return_exceptions=True)
        await send(reply)

    return lifespan


async def _follow(
    from_inner: asyncio.Queue[Message], startup: StartUp, log: logging.Logger
) -> None:
    reply = await from_inner.get()
    if reply["type"] == "lifespan.startup.complete":
        startup.done = True
        return
    text = str(reply.get("message") or "")
    last = text.strip().splitlines()[-1] if text.strip() else "start-up failed"
    startup.failed = last[:300]
    log.error("start-up failed; stopping", extra={"error": startup.failed, "exception": text})
    startup.on_failure()
