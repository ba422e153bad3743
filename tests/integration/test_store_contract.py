"""The FactStore contract: the in-memory fake and the MongoDB store pass the same tests."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from service.adapters.memory_store import MemoryStore
from service.adapters.mongo_store import MongoStore
from service.adapters.store import FactStore, Projection, SeqTaken, moves_of
from service.adapters.store import Log as StoreLog
from service.domain.commands import ApprovalDecided, EvidenceVersion, PacketReady
from service.domain.facts import Fact, verify_chain
from service.domain.revision import fold_packet
from tests.unit.domain.builders import T0, Log, approval_data, packet_data


@contextlib.asynccontextmanager
async def fresh_mongo_store(tag: str) -> AsyncIterator[MongoStore]:
    """A MongoStore on a database of its own, dropped afterwards."""
    url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    name = f"{tag}_{uuid.uuid4().hex[:8]}"
    mongo = MongoStore(client[name])
    await mongo.ensure_indexes()
    try:
        yield mongo
    finally:
        await client.drop_database(name)
        await client.close()


def another_instance(store: MongoStore) -> MongoStore:
    """A second instance on the same database, with nothing in memory."""
    return MongoStore(store.facts.database)


@pytest.fixture(params=["memory", "mongo"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[FactStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    async with fresh_mongo_store("store_contract") as mongo:
        yield mongo


def released_facts(packet_id: str = "RP-1") -> list[Fact]:
    log = Log(packet_id)
    packet = packet_data(1, packet_id=packet_id, body={"a.b": 1, "$odd": [1, 2.5, None]})
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet, valid_from=T0)))
    return log.facts


async def test_appended_facts_load_back_equal_and_their_chain_verifies(store: FactStore) -> None:
    facts = released_facts()
    await store.append(facts)
    loaded = sorted(await store.load_packet("RP-1"), key=lambda f: f.seq)
    assert loaded == facts
    assert verify_chain(loaded) is None
    assert loaded[0].data["packet"]["body"] == {"a.b": 1, "$odd": [1, 2.5, None]}


async def test_a_taken_seq_raises_seq_taken_and_keeps_the_first_writer(store: FactStore) -> None:
    facts = released_facts()
    await store.append(facts[:1])
    rival = replace(facts[0], cause_event_id="someone-else")
    with pytest.raises(SeqTaken) as taken:
        await store.append([rival])
    assert taken.value.fact_id == "RP-1@r1/1"
    assert (await store.load_packet("RP-1"))[0].cause_event_id == "ready-1"


async def test_a_batch_stops_at_the_first_taken_seq_and_keeps_earlier_ones(
    store: FactStore,
) -> None:
    facts = released_facts()
    await store.append(facts[1:2])
    with pytest.raises(SeqTaken) as taken:
        await store.append(facts)
    assert taken.value.fact_id == facts[1].id
    assert {f.id for f in await store.load_packet("RP-1")} == {facts[0].id, facts[1].id}


async def test_facts_stay_unpublished_until_marked(store: FactStore) -> None:
    facts = released_facts()
    await store.append(facts)
    waiting = await store.unpublished(limit=100)
    assert {f.id for f in waiting} == {f.id for f in facts if f.outbox}
    assert await store.count_unpublished() == len(waiting)
    assert not any(f.published for f in waiting)
    await store.mark_published(waiting)
    assert await store.unpublished(limit=100) == []
    assert await store.count_unpublished() == 0


async def test_the_relays_view_leaves_out_entries_decided_after_its_cutoff(
    store: FactStore,
) -> None:
    facts = released_facts()  # all decided at T0
    await store.append(facts)
    assert await store.unpublished(limit=100, before=T0 - timedelta(seconds=1)) == []
    waiting = await store.unpublished(limit=100, before=T0)
    assert {f.id for f in waiting} == {f.id for f in facts if f.outbox}


async def test_projections_answer_due_citing_lane_and_state_queries(store: FactStore) -> None:
    facts = released_facts()
    await store.append(facts)
    packet = fold_packet("RP-1", facts)
    rows = [Projection.of(r) for r in packet.values()]
    await store.note_written(rows, moves_of(facts))
    await store.save_projections(rows)
    due = packet[1].next_due()
    assert due is not None
    assert await store.due_times(due - timedelta(seconds=1)) == {}
    assert await store.due_times(due) == {"RP-1": due}
    assert await store.packets_citing("incident-impact", "INC-1") == ["RP-1"]
    assert await store.packets_citing("incident-impact", "INC-2") == []
    assert await store.packets_in_lane("exec-customer-review") == ["RP-1"]
    assert await store.state_counts() == {"released": 1}


async def test_evidence_records_tell_new_latest_and_stale_changes_apart(store: FactStore) -> None:
    at = datetime(2026, 11, 27, tzinfo=UTC)
    first = await store.record_evidence("contract", "MSA-1", EvidenceVersion("4", "e1"), at)
    assert first.step("e1") == "latest"
    second = await store.record_evidence("contract", "MSA-1", EvidenceVersion("5", "e2"), at)
    assert second.step("e1") == "stale" and second.step("e2") == "latest"
    replay = await store.record_evidence("contract", "MSA-1", EvidenceVersion("4", "e1"), at)
    assert replay.latest.version == "5"
    versions = await store.evidence_versions([("contract", "MSA-1"), ("contract", "none")])
    assert versions == {("contract", "MSA-1"): EvidenceVersion("5", "e2")}


async def test_all_facts_come_in_packet_revision_seq_order(store: FactStore) -> None:
    await store.append(released_facts("RP-2"))
    await store.append(released_facts("RP-1"))
    order = [(f.packet_id, f.revision, f.seq) async for f in store.all_facts()]
    assert order == sorted(order)
    assert await store.packet_ids() == ["RP-1", "RP-2"]


async def test_several_packets_load_in_one_call(store: FactStore) -> None:
    await store.append(released_facts("RP-1"))
    await store.append(released_facts("RP-2"))
    found = await store.load_packets(["RP-1", "RP-2", "RP-3"])
    assert {k: len(v) for k, v in found.items()} == {"RP-1": 3, "RP-2": 3, "RP-3": 0}


async def test_a_load_finds_facts_appended_after_the_last_snapshot(store: FactStore) -> None:
    facts = released_facts()
    await store.append(facts[:1])
    await store.save_snapshots({"RP-1": StoreLog(facts[:1], [1])})
    await store.append(facts[1:])  # the writer died before saving its snapshot
    found = await store.load_packets(["RP-1"])
    assert sorted(found["RP-1"], key=lambda f: f.seq) == facts


async def test_a_load_finds_a_revision_the_snapshot_does_not_know(store: FactStore) -> None:
    first, second = released_facts(), [replace(f, revision=2) for f in released_facts()]
    await store.append(first)
    await store.save_snapshots({"RP-1": StoreLog(first, [1])})
    await store.append(second)
    found = await store.load_packets(["RP-1"])
    assert {(f.revision, f.seq) for f in found["RP-1"]} == {
        (r, s) for r in (1, 2) for s in (1, 2, 3)
    }


async def test_writers_that_each_add_a_revision_the_other_never_saw_collide(
    store: FactStore,
) -> None:
    first, second = released_facts(), [replace(f, revision=2) for f in released_facts()]
    seen_by_a, seen_by_b = await store.load_packets(["RP-1"]), await store.load_packets(["RP-1"])
    await store.append(first[:1], seen_by_a)
    with pytest.raises(SeqTaken) as taken:
        await store.append(second[:1], seen_by_b)
    assert taken.value.fact_id == second[0].id
    again = await store.load_packets(["RP-1"])
    assert (again["RP-1"].numbers, [f.id for f in again["RP-1"]]) == ([1], [first[0].id])
    await store.append(second[:1], again)
    assert (await store.load_packets(["RP-1"]))["RP-1"].numbers == [1, 2]


async def test_a_stale_snapshot_cannot_hide_a_revision(store: FactStore) -> None:
    first, second = released_facts(), [replace(f, revision=2) for f in released_facts()]
    await store.append(first)
    await store.append(second)
    # a slow writer that knew only r2 overwrites the snapshot last
    await store.save_snapshots({"RP-1": StoreLog(second, [])})
    found = await store.load_packets(["RP-1"])
    assert found["RP-1"].numbers == [1, 2]
    assert {(f.revision, f.seq) for f in found["RP-1"]} == {
        (r, s) for r in (1, 2) for s in (1, 2, 3)
    }


async def test_a_lost_race_leaves_nothing_for_the_relay_to_send(store: FactStore) -> None:
    facts = released_facts()
    await store.append(facts)
    await store.mark_published(facts)
    rival = [replace(f, cause_event_id="someone-else", hash=f.hash + "x") for f in facts]
    with pytest.raises(SeqTaken):
        await store.append(rival)
    assert await store.unpublished(limit=100) == []
    assert await store.count_unpublished() == 0
