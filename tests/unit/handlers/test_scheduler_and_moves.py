"""The scheduler goes on past a packet whose tick fails, and keeps what an outage stopped;
the state moves of a batch that lost an append race are counted once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from service.adapters.memory_store import MemoryStore
from service.adapters.store import Projection
from service.domain.commands import Command, PacketReady
from service.domain.decide import Decision
from service.domain.facts import Fact
from service.entrypoints.loops import FAILED_TICK_BACKOFF, Scheduler
from service.gate.due import DueTimes
from tests.unit.domain.builders import T0, packet_data
from tests.unit.handlers.fakes import runtime


def scheduler_with(due: Mapping[str, Any], fails: Mapping[str, Exception]) -> tuple[Any, Any]:
    rt, _, _ = runtime()
    ticked: list[str] = []

    async def decide_one(packet_id: str, command: Command, ours: Sequence[Fact] = ()) -> Decision:
        ticked.append(packet_id)
        if packet_id in fails:
            raise fails[packet_id]
        return Decision()

    rt.gate.decide_one = decide_one  # type: ignore[method-assign]
    times = DueTimes(horizon=timedelta(minutes=1))
    times.merge(dict(due))
    scheduler = Scheduler(rt, times)
    scheduler.scan.run = _no_scan  # type: ignore[method-assign]
    return scheduler, ticked


async def _no_scan(now: Any, step: Any) -> None:
    return None


async def test_a_packet_whose_tick_fails_waits_and_the_others_are_ticked() -> None:
    scheduler, ticked = scheduler_with({"P1": T0, "P2": T0}, {"P1": ValueError("a bug")})
    await scheduler.step()
    assert ticked == ["P1", "P2"]
    assert scheduler.due.at == {"P1": T0 + FAILED_TICK_BACKOFF}


async def test_an_outage_keeps_every_packet_not_yet_ticked_for_the_next_step() -> None:
    scheduler, ticked = scheduler_with({"P1": T0, "P2": T0}, {"P1": AutoReconnect("away")})
    with pytest.raises(AutoReconnect):
        await scheduler.step()
    assert ticked == ["P1"]
    assert scheduler.due.at == {"P1": T0, "P2": T0}


class MovesRecorded(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.moved: list[dict[str, int]] = []

    async def note_written(
        self, rows: Sequence[Projection], moves: Mapping[str, int] | None = None
    ) -> None:
        self.moved.append(dict(moves or {}))
        await super().note_written(rows, moves)


async def test_a_batch_that_lost_a_race_midway_counts_each_move_once() -> None:
    store = MovesRecorded()
    rt, _, _ = runtime(store)
    original, raced = store.append, False

    async def rival_takes_rp2(facts: Sequence[Fact], logs: Any = None) -> None:
        nonlocal raced
        if not raced:  # another instance stores RP-2's r1 just before this batch's append
            raced = True
            other, _, _ = runtime(MemoryStore())
            await other.gate.decide_one("RP-2", PacketReady("evt-rival", packet_data(1, "RP-2")))
            rival = [replace(f, cause_event_id="evt-rival") for f in other.store.facts.values()]  # type: ignore[attr-defined]
            await original(rival)
        await original(facts, logs)

    store.append = rival_takes_rp2  # type: ignore[method-assign]
    items = [
        ("RP-1", PacketReady("evt-1", packet_data(1, "RP-1"))),
        ("RP-2", PacketReady("evt-2", packet_data(1, "RP-2"))),
    ]
    decisions = await rt.gate.decide_batch(items)
    assert [d.outcome for d in decisions] == ["applied", "duplicate"]
    total: dict[str, int] = {}
    for moved in store.moved:
        for state, n in moved.items():
            total[state] = total.get(state, 0) + n
    assert total == {"pending": 1}, f"RP-1's creation once, RP-2's is the rival's: {store.moved}"


class ListsAwayOnce(MovesRecorded):
    away = True

    async def note_written(
        self, rows: Sequence[Projection], moves: Mapping[str, int] | None = None
    ) -> None:
        if self.away:
            self.away = False
            raise AutoReconnect("store away")
        await super().note_written(rows, moves)


async def test_list_entries_an_outage_refused_are_written_once_it_is_over() -> None:
    store = ListsAwayOnce()
    rt, publisher, _ = runtime(store)
    decision = await rt.gate.decide_one("RP-1", PacketReady("evt-1", packet_data(1)))
    assert decision.outcome == "applied"
    assert store.moved == [{"pending": 1}]
    assert publisher.ids("packet-lifecycle") == ["RP-1@r1:lifecycle:pending"]
