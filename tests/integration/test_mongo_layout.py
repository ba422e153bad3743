"""What only the MongoDB store has: the outbox entries and snapshots beside the log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from service.adapters.mongo_store import MongoStore, outbox_entry
from service.adapters.store import Log, Projection
from service.domain.revision import fold_packet
from tests.integration.test_store_contract import fresh_mongo_store, released_facts


@pytest.fixture
async def mongo() -> AsyncIterator[MongoStore]:
    async with fresh_mongo_store("mongo_layout") as store:
        yield store


async def test_an_entry_whose_fact_holds_another_hash_is_dropped_unsent(mongo: MongoStore) -> None:
    facts = released_facts()
    await mongo.append(facts)
    await mongo.mark_published(facts)
    loser = replace(facts[-1], cause_event_id="rival", hash="sha256:" + "0" * 64)
    await mongo.outbox.insert_one(outbox_entry(loser))  # it died before its fact insert
    assert await mongo.count_unpublished() == 1
    assert await mongo.unpublished(limit=10) == []
    assert await mongo.count_unpublished() == 0


async def test_an_entry_whose_fact_is_not_there_yet_waits(mongo: MongoStore) -> None:
    facts = released_facts()
    await mongo.outbox.insert_one(outbox_entry(facts[-1]))
    assert await mongo.unpublished(limit=10) == []
    assert await mongo.count_unpublished() == 1  # its writer may still insert the fact
    await mongo.append(facts)
    assert [f.id for f in await mongo.unpublished(limit=10)] == [f.id for f in facts if f.outbox]


async def test_the_log_is_what_a_load_returns_not_a_snapshot_that_went_back(
    mongo: MongoStore,
) -> None:
    facts = released_facts()
    await mongo.append(facts)
    await mongo.save_snapshots({"RP-1": Log(facts, [1])})
    await mongo.save_snapshots({"RP-1": Log(facts[:1], [])})  # a slower writer's older snapshot
    found = await mongo.load_packets(["RP-1"])
    assert sorted(found["RP-1"], key=lambda f: f.seq) == facts


async def test_hundreds_of_projections_and_snapshots_save_without_stalling_the_store(
    mongo: MongoStore,
) -> None:
    """FerretDB holds a connection per statement until an update command ends: 100+ upserts
    in one command once waited forever for a connection it held itself."""
    logs = {f"RP-{i}": Log(released_facts(f"RP-{i}"), [1]) for i in range(150)}
    rows = [
        Projection.of(rev)
        for pid, facts in logs.items()
        for rev in fold_packet(pid, facts).values()
    ]
    for _ in range(2):  # the second round updates what the first inserted
        await asyncio.wait_for(
            asyncio.gather(mongo.save_projections(rows), mongo.save_snapshots(logs)), 60
        )
    assert await mongo.revisions.count_documents({"state": "released"}) == 150
    found = await mongo.load_packets(["RP-0", "RP-149"])
    assert {len(v) for v in found.values()} == {3}
