"""A background loop stops when shutdown cancels it, even when the cancel arrives just as a
step finishes; and a loop that outlives its cancels does not hold shutdown for ever."""

from __future__ import annotations

import asyncio
import logging

import pytest

from service.entrypoints.loops import LOOP_STOP_SECONDS, forever, stop_loops
from service.gate.context import GateContext


def runtime() -> GateContext:
    """`forever` touches only the log, metrics and health on a failed step: none here."""
    return object.__new__(GateContext)


async def test_a_cancel_that_arrives_as_a_step_finishes_stops_the_loop() -> None:
    task: asyncio.Task[None] | None = None
    steps = 0

    async def step() -> None:
        nonlocal steps
        steps += 1
        assert task is not None
        # Runs before the step's own completion is seen by whoever awaits it: the race
        # in which Python 3.11's wait_for returned the result and dropped the cancel.
        asyncio.get_running_loop().call_soon(task.cancel)

    task = asyncio.create_task(forever(runtime(), "test", 0.01, step))
    done, _ = await asyncio.wait([task], timeout=2)
    assert (done == {task}, task.cancelled(), steps) == (True, True, 1)


async def test_stop_loops_cancels_every_loop_and_returns_once_they_ended() -> None:
    log = logging.getLogger("test")
    tasks = [asyncio.create_task(asyncio.Event().wait()) for _ in range(3)]
    await asyncio.sleep(0)  # let them start waiting
    await stop_loops(tasks, log)  # type: ignore[arg-type]
    assert all(t.cancelled() for t in tasks)


async def test_a_loop_that_ignores_its_cancels_is_named_and_left_behind(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.entrypoints.loops.LOOP_STOP_SECONDS", 0.05)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # what a misbehaving library might do

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(stop_loops([task], logging.getLogger("test")), LOOP_STOP_SECONDS)
    assert not task.done()
    assert [r.loops for r in caplog.records] == [["stubborn"], ["stubborn"]]  # type: ignore[attr-defined]
    release.set()
    await task
