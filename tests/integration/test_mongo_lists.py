"""The `_id`-addressed lists on the real store: dense under rival writers, readable past a
gap, found where they end; and what is kept in them: due times, fan-outs, state counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from service.adapters.mongo_index import minute
from service.adapters.mongo_lists import DenseLists, position_id
from service.adapters.mongo_store import MongoStore
from service.adapters.store import Projection, moves_of
from service.domain.revision import fold_packet
from tests.integration.test_store_contract import (
    another_instance,
    fresh_mongo_store,
    released_facts,
)


@pytest.fixture
async def mongo() -> AsyncIterator[MongoStore]:
    async with fresh_mongo_store("mongo_lists") as store:
        yield store


async def test_rival_writers_fill_one_list_densely_and_lose_no_entry(mongo: MongoStore) -> None:
    writers = [DenseLists(mongo.index.coll) for _ in range(3)]
    await asyncio.gather(
        *(
            w.append([("cites:x", {"packet": f"P{n}-{i}"}) for i in range(20)])
            for n, w in enumerate(writers)
        )
    )
    entries = await DenseLists(mongo.index.coll).read("cites:x")
    assert [e["k"] for e in entries] == list(range(1, 61))
    assert sorted(e["packet"] for e in entries) == sorted(
        f"P{n}-{i}" for n in range(3) for i in range(20)
    )


async def test_a_writer_new_to_a_long_list_appends_at_its_end(mongo: MongoStore) -> None:
    await DenseLists(mongo.index.coll).append([("lane:x", {"n": i}) for i in range(37)])
    late = DenseLists(mongo.index.coll)
    await late.append([("lane:x", {"n": 37})])
    entries = await DenseLists(mongo.index.coll).read("lane:x")
    assert [(e["k"], e["n"]) for e in entries] == [(k + 1, k) for k in range(38)]


async def test_an_entry_behind_a_gap_is_still_read(mongo: MongoStore) -> None:
    await mongo.index.coll.insert_many(
        [{"_id": position_id("cites:g", k), "list": "cites:g", "k": k} for k in (1, 3)]
    )  # a writer died between the inserts of #2 and #3
    reader = DenseLists(mongo.index.coll)
    assert [e["k"] for e in await reader.read("cites:g")] == [1, 3]
    assert [e["k"] for e in await reader.read_new("cites:g")] == [1, 3]
    assert [e["k"] for e in await reader.read_new("cites:g")] == [3], "a hint may come again"


async def test_read_new_gives_each_entry_of_a_dense_list_once(mongo: MongoStore) -> None:
    writer, reader = DenseLists(mongo.index.coll), DenseLists(mongo.index.coll)
    await writer.append([("due:1", {"n": 1}), ("due:1", {"n": 2})])
    assert [e["n"] for e in await reader.read_new("due:1")] == [1, 2]
    assert await reader.read_new("due:1") == []
    await writer.append([("due:1", {"n": 3})])
    assert [e["n"] for e in await reader.read_new("due:1")] == [3]


def rows_of(packet_id: str) -> tuple[list[Projection], dict[str, int]]:
    facts = released_facts(packet_id)
    return [Projection.of(r) for r in fold_packet(packet_id, facts).values()], moves_of(facts)


async def test_another_instance_finds_due_times_citing_and_lane_packets_it_never_wrote(
    mongo: MongoStore,
) -> None:
    rows, moves = rows_of("RP-7")
    await mongo.note_written(rows, moves)  # its rows are not written yet: they follow
    other = another_instance(mongo)
    due = rows[0].next_due
    assert due is not None
    assert await other.due_times(due) == {"RP-7": due}
    assert await other.due_times(due) == {}, "named once: the scheduler keeps it"
    assert await other.packets_citing("incident-impact", "INC-1") == ["RP-7"]
    assert await other.packets_in_lane("exec-customer-review") == ["RP-7"]


async def test_a_revision_no_longer_live_is_not_named_by_a_fan_out(mongo: MongoStore) -> None:
    rows, moves = rows_of("RP-8")
    await mongo.note_written(rows, moves)
    [row] = rows
    ended = Projection(row.packet_id, row.revision, "superseded", row.lane_id, row.evidence, None)
    await mongo.note_written([ended], {"released": -1, "superseded": 1})
    other = another_instance(mongo)
    assert await other.packets_citing("incident-impact", "INC-1") == ["RP-8"], "no row: live"
    await mongo.save_projections([ended])  # the row follows off the path
    assert await another_instance(mongo).packets_citing("incident-impact", "INC-1") == []
    assert await mongo.state_counts() == {"superseded": 1}


async def test_counts_from_two_writers_add_up_and_settle_into_stored_totals(
    mongo: MongoStore,
) -> None:
    other = another_instance(mongo)
    for store, pid in ((mongo, "RP-1"), (other, "RP-2"), (mongo, "RP-3")):
        await store.note_written(*rows_of(pid))
    now = minute(datetime.now(UTC))
    assert await another_instance(mongo).state_counts() == {"released": 3}
    later = await another_instance(mongo).counts.current(now + 5)  # every minute settled
    assert later == {"released": 3}
    latest = await mongo.index.coll.find_one({"_id": "counts-latest"})
    assert latest is not None and (latest["minute"], latest["counts"]) == (
        now + 3,
        {"released": 3},
    )
    stored = await mongo.index.coll.find_one({"_id": f"counts@{latest['minute']}"})
    assert stored is None, "a minute without moves needs no totals of its own"


async def test_a_rebuild_replaces_the_totals_with_a_count_of_the_log(mongo: MongoStore) -> None:
    await mongo.note_written(*rows_of("RP-1"))
    await mongo.note_written([], {"released": 5})  # moves a crash made wrong
    now = minute(datetime.now(UTC))
    await mongo.counts.rebuild({"released": 1}, now + 3)  # as if run three minutes later
    assert await another_instance(mongo).counts.current(now + 3) == {"released": 1}


async def test_a_store_written_before_the_lists_fills_them_once_at_start(
    mongo: MongoStore,
) -> None:
    rows, _ = rows_of("RP-9")
    due = datetime.now(UTC) + timedelta(seconds=30)
    old = Projection(rows[0].packet_id, 1, "released", rows[0].lane_id, rows[0].evidence, due)
    await mongo.revisions.insert_one(
        {"_id": old.id, "packet_id": old.packet_id, "state": "released", "next_due": due}
    )
    await mongo.index.coll.delete_many({})  # no floor, no totals: an older version's store
    upgraded = another_instance(mongo)
    await upgraded.ensure_indexes()
    assert await upgraded.due_times(due) == {
        "RP-9": due.replace(microsecond=due.microsecond // 1000 * 1000)
    }
    assert await upgraded.state_counts() == {"released": 1}


class FailingSecond(DenseLists):
    """Its second insert command fails as an outage would, after nothing was written."""

    commands = 0

    async def _insert(self, docs: list[dict[str, Any]]) -> list[int]:
        self.commands += 1
        if self.commands == 2:
            raise AutoReconnect("store away")
        return await super()._insert(docs)


async def test_a_failed_append_leaves_no_gap_when_it_is_tried_again(mongo: MongoStore) -> None:
    writer = FailingSecond(mongo.index.coll)
    await writer.append([("cites:f", {"n": 1})])
    with pytest.raises(AutoReconnect):
        await writer.append([("cites:f", {"n": 2}), ("cites:f", {"n": 3})])
    await writer.append([("cites:f", {"n": 2}), ("cites:f", {"n": 3})])
    entries = await DenseLists(mongo.index.coll).read("cites:f")
    assert [(e["k"], e["n"]) for e in entries] == [(1, 1), (2, 2), (3, 3)]


async def test_a_writer_far_behind_the_end_catches_up_without_giving_up(mongo: MongoStore) -> None:
    behind, busy = DenseLists(mongo.index.coll), DenseLists(mongo.index.coll)
    await behind.append([("lane:busy", {"n": 0})])  # it knows the list ends at 2
    await busy.append([("lane:busy", {"n": i}) for i in range(1, 41)])
    await behind.append([("lane:busy", {"n": 41})])
    entries = await DenseLists(mongo.index.coll).read("lane:busy")
    assert [e["k"] for e in entries] == list(range(1, 43))
    assert sorted(e["n"] for e in entries) == list(range(42))


async def test_due_times_keep_what_was_read_when_another_minute_fails(
    mongo: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, moves = rows_of("RP-5")
    await mongo.note_written(rows, moves)
    due = rows[0].next_due
    assert due is not None
    other = another_instance(mongo)
    read_new = other.index.lists.read_new

    async def one_minute_fails(name: str) -> list[dict[str, Any]]:
        found = await read_new(name)
        if name == f"due:{minute(datetime.now(UTC)) - 2}":  # the floor, not the entry's minute
            raise AutoReconnect("store away")
        return found

    monkeypatch.setattr(other.index.lists, "read_new", one_minute_fails)
    with pytest.raises(AutoReconnect):
        await other.due_times(due)
    monkeypatch.setattr(other.index.lists, "read_new", read_new)
    assert await other.due_times(due) == {"RP-5": due}


class CountingCommands(DenseLists):
    commands = 0

    async def _insert(self, docs: list[dict[str, Any]]) -> list[int]:
        self.commands += 1
        return await super()._insert(docs)

    async def _find_end(self, name: str, taken: int = 0) -> int:
        raise AssertionError("appends of one process never collide")


async def test_appends_side_by_side_go_in_together_without_colliding(mongo: MongoStore) -> None:
    lists = CountingCommands(mongo.index.coll)
    placed = await asyncio.gather(*(lists.append([("moves:1", {"n": i})]) for i in range(10)))
    assert sorted(p for ids in placed for p in ids) == sorted(f"moves:1#{k}" for k in range(1, 11))
    assert lists.commands < 10, "one command for the appends that waited for the first"
    entries = await DenseLists(mongo.index.coll).read("moves:1")
    assert sorted(e["n"] for e in entries) == list(range(10))
