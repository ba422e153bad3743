"""What only the MongoDB store has: the outbox entries and snapshots beside the log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from service.adapters.mongo_docs import to_doc
from service.adapters.mongo_index import minute
from service.adapters.mongo_store import MongoStore
from service.adapters.store import Log, Projection
from service.domain.revision import fold_packet
from tests.integration.test_store_contract import (
    another_instance,
    fresh_mongo_store,
    released_facts,
)


@pytest.fixture
async def mongo() -> AsyncIterator[MongoStore]:
    async with fresh_mongo_store("mongo_layout") as store:
        yield store


async def test_an_entry_whose_fact_holds_another_hash_is_dropped_unsent(mongo: MongoStore) -> None:
    facts = released_facts()
    await mongo.append(facts)
    await mongo.mark_published(facts)
    loser = replace(facts[-1], cause_event_id="rival", hash="sha256:" + "0" * 64)
    dead = another_instance(mongo)
    await dead.outboxes.list_facts([loser])  # it died before its fact insert
    assert await dead.count_unpublished() == 1
    relay = another_instance(mongo)
    assert await relay.unpublished(limit=10) == []
    assert relay.outboxes.seen == {} and await relay.count_unpublished() == 0
    assert await another_instance(mongo).unpublished(limit=10) == [], "it was marked"


async def test_an_entry_whose_fact_is_not_there_yet_waits(mongo: MongoStore) -> None:
    facts = released_facts()
    writer = another_instance(mongo)
    await writer.outboxes.list_facts([facts[-1]])  # listed; its fact not inserted yet
    relay = another_instance(mongo)
    assert await relay.unpublished(limit=10) == []
    assert len(relay.outboxes.seen) == 1, "looked at again next time"
    await mongo.append(facts)
    relayed = await relay.unpublished(limit=10)
    assert [f.id for f in relayed] == [f.id for f in facts if f.outbox]
    await relay.mark_published(relayed)
    assert await another_instance(mongo).unpublished(limit=10) == [], "all marked"


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


async def test_an_entry_whose_facts_never_came_is_marked_after_the_orphan_wait(
    mongo: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = another_instance(mongo)
    await dead.outboxes.list_facts(released_facts("RP-9"))  # it died before the insert
    relay = another_instance(mongo)
    assert await relay.unpublished(limit=10) == [] and len(relay.outboxes.seen) == 1
    monkeypatch.setattr("service.adapters.mongo_outbox.ORPHAN_AFTER", timedelta(0))
    assert await relay.unpublished(limit=10) == [] and relay.outboxes.seen == {}
    later = another_instance(mongo)
    assert await later.unpublished(limit=10) == [] and later.outboxes.seen == {}, "marked"


async def test_a_restarted_relay_reads_from_the_floor_an_older_one_persisted(
    mongo: MongoStore,
) -> None:
    facts = released_facts("RP-8")
    old = minute(datetime.now(UTC)) - 20  # a writer crashed twenty minutes ago
    entry = {"facts": [{"id": f.id, "hash": f.hash, "at": f.at} for f in facts if f.outbox]}
    lists = mongo.index.lists
    await lists.append([(f"writers:{old}", {"writer": "w0"}), (f"outbox:w0:{old}", entry)])
    await mongo.facts.insert_many([to_doc(f) for f in facts])  # in the log, never published
    floor = {"_id": "outbox-floor", "minute": old - 3}  # what the relay persisted then
    await mongo.index.coll.replace_one({"_id": "outbox-floor"}, floor, upsert=True)
    restarted = another_instance(mongo)
    relayed = await restarted.unpublished(limit=10)
    assert [f.id for f in relayed] == [f.id for f in facts if f.outbox]
