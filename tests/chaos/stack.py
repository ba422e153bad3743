"""Server faults through ops/stack/stack.sh: SIGKILL the broker or the store, always restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.service import ROOT

STACK = ROOT / "ops" / "stack" / "stack.sh"
# Servers this session killed and has not yet seen answer again (the fixture's safety net).
DOWN: set[str] = set()


async def stack(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(STACK),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise AssertionError(f"stack.sh {' '.join(args)} exited {proc.returncode}: {text}")
    return text


@asynccontextmanager
async def outage(server: str) -> AsyncIterator[None]:
    """SIGKILL `server` (kafka or store) on entry; start it again on exit, whatever happens.

    Other suites share the stack, so the body should hold the outage for seconds only.
    """
    await stack(f"kill-{server}")
    DOWN.add(server)
    try:
        yield
    finally:
        await restore(server)


async def restore(server: str) -> None:
    await stack(f"start-{server}")  # waits until it answers again
    DOWN.discard(server)
