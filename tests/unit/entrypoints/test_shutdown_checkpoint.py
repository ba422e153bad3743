"""At shutdown the service flushes its checkpointer after the loops ended, while the producer
is still up: what the loops appended last is anchored too."""

from __future__ import annotations

import asyncio

from service.entrypoints.app import Service
from service.settings import Settings
from tests.unit.gate.test_checkpointer import Sender, checkpointer, fact


async def test_stop_publishes_a_last_checkpoint_with_what_the_loops_noted_as_they_ended() -> None:
    service = Service(Settings())
    sender = Sender()
    service.checkpointer, _ = checkpointer(sender)
    service.checkpointer.note([fact(1)])
    started = asyncio.Event()

    async def relay() -> None:  # a loop that appends once more as it is cancelled
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            assert service.checkpointer is not None
            service.checkpointer.note([fact(2)])

    service.tasks = [asyncio.create_task(relay())]
    await started.wait()
    await service.stop()
    [(topic, _, event)] = sender.sent
    assert topic == "audit-checkpoint"
    assert [leaf[0] for leaf in event["data"]["leaves"]] == ["RP-1@r1/1", "RP-1@r1/2"]
    assert service.checkpointer.waiting == 0


async def test_stop_before_start_has_nothing_to_flush() -> None:
    await Service(Settings()).stop()  # no checkpointer yet: no error
