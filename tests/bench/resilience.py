"""Measuring on a shared stack: wait for it, and run a measurement again when it stumbled.

Other engineers' fault tests kill and restart the broker and the store every few minutes;
a measurement that overlapped such an outage is repeated (with fresh topics and group).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError

from tests.support import kafka

TRANSIENT: tuple[type[BaseException], ...] = (
    PyMongoError,
    KafkaError,
    OSError,
    TimeoutError,
    AssertionError,  # ServiceProcess: "service exited" / "not ready"
)


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def check_stack(ctx: Any, within: float = 90) -> None:
    """Both servers answer; others restart them briefly now and then, so wait a little."""
    from pymongo import AsyncMongoClient

    deadline = time.monotonic() + within
    while True:
        store: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            ctx.mongodb_url, serverSelectionTimeoutMS=3000
        )
        try:
            await kafka.check_reachable(ctx.bootstrap, request_timeout_ms=3000, within=5)
            await store.admin.command("ping")
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"the stack does not answer ({exc!r}): `ops/stack/stack.sh up` or `make bench`"
                ) from exc
            say("waiting for the stack (Kafka and the store) to answer")
            await asyncio.sleep(3)
        finally:
            await store.close()


async def phase(
    ctx: Any, name: str, make: Callable[[], Awaitable[dict[str, Any]]], attempts: int = 3
) -> dict[str, Any]:
    """Run a measurement; if the stack failed or stumbled under it, wait and run it again.

    After `attempts`, the last disturbed result stands (marked), or the error is recorded
    and the bench goes on with its other figures."""
    trouble: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            result = await make()
        except TRANSIENT as exc:
            trouble.append(f"attempt {attempt}: {exc!r}"[:300])
        else:
            if not result.get("disturbed") or attempt == attempts:
                return {**result, "attempts": attempt, "earlier_attempts": trouble}
            trouble.append(f"attempt {attempt}: disturbed {result['disturbed']}")
        say(f"    {name}: {trouble[-1]}; waiting for the stack, then again")
        await check_stack(ctx, within=240)
    return {"error": trouble[-1], "attempts": attempts, "earlier_attempts": trouble}
