"""After an append, a batch's list entries and its events go side by side, and the batch ends
only when both are done (service/gate/gate.py, `Gate._settle`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from service.adapters.memory_store import MemoryStore
from service.adapters.store import Projection
from service.domain.commands import PacketReady
from tests.unit.domain.builders import packet_data
from tests.unit.handlers.fakes import runtime


class GatedStore(MemoryStore):
    """Notes list entries only once the events are out (`published` set)."""

    def __init__(self) -> None:
        super().__init__()
        self.published = asyncio.Event()
        self.noted = False

    async def note_written(
        self, rows: Sequence[Projection], moves: Mapping[str, int] | None = None
    ) -> None:
        await self.published.wait()
        await super().note_written(rows, moves)
        self.noted = True


async def test_the_events_go_out_while_the_list_entries_are_still_being_written() -> None:
    store = GatedStore()
    rt, publisher, _ = runtime(store)
    publish = publisher.publish

    async def publish_then_open(facts: Sequence[object]) -> None:
        await publish(facts)  # type: ignore[arg-type]
        store.published.set()

    publisher.publish = publish_then_open  # type: ignore[method-assign]
    async with asyncio.timeout(5):  # in turn, the note would wait for the publish forever
        await rt.gate.decide_one("RP-1", PacketReady("ready-1", packet_data(1)))

    assert store.noted and publisher.ids("packet-lifecycle")


async def test_a_failed_publish_still_lets_the_list_entries_land_and_then_fails_the_batch() -> None:
    store = GatedStore()
    rt, publisher, _ = runtime(store)

    async def broken(facts: Sequence[object]) -> None:
        store.published.set()
        raise ConnectionError("broker gone")

    publisher.publish = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError, match="broker gone"):
        async with asyncio.timeout(5):
            await rt.gate.decide_one("RP-1", PacketReady("ready-1", packet_data(1)))

    assert store.noted, "the batch's list entries were written before the failure was raised"
