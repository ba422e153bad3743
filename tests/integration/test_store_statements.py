"""Every store statement that a message or a timer causes is an insert or names its `_id`s
(one, or a list by `$in`): on FerretDB nothing else is served without scanning the table
(the `$in` only with the stack's addition, checked here too), and a scan's cost grows with
the stored history (service/adapters/mongo_lists.py). Counted on the wire, by a PyMongo
command listener, while the five handlers, the scheduler, the snapshot and mark flushes and
the monitor's counts and the outbox relay run against the real store."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from pymongo import AsyncMongoClient, monitoring

from service.adapters.mongo_docs import FIND_CHUNK, find_ids
from service.adapters.mongo_store import MongoStore
from service.entrypoints.consume import process_partition
from service.entrypoints.loops import Scheduler, relay_step
from service.gate.context import GateContext
from service.gate.due import DueTimes
from service.handlers import HANDLERS
from tests.support.builders import (
    LANE,
    RECIPIENTS,
    encode,
    envelope,
    evidence_changed,
    feedback,
    forward,
)
from tests.unit.domain.builders import T0, approval_data, packet_data
from tests.unit.handlers.fakes import runtime

Statement = tuple[str, str, str]  # command, collection, why it is not by _id


class Statements(monitoring.CommandListener):
    def __init__(self) -> None:
        self.listening = False
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.listening:
            self.seen.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def not_by_id(self) -> set[Statement]:
        found: set[Statement] = set()
        for name, command in self.seen:
            why = _why_not_by_id(name, command)
            if why is not None:
                found.add((name, str(command.get(name, "")), why))
        return found


def _by_id(query: Any) -> bool:
    """`{_id: <string>}`, or `{_id: {$in: [<string>, ...]}}` with at least one (served by the
    _id index: ops/stack/stack.sh; an empty `$in` would scan)."""
    if not (isinstance(query, dict) and list(query) == ["_id"]):
        return False
    value = query["_id"]
    if isinstance(value, str):
        return True
    ids = value.get("$in") if isinstance(value, dict) and list(value) == ["$in"] else None
    return isinstance(ids, list) and bool(ids) and all(isinstance(i, str) for i in ids)


def _why_not_by_id(name: str, command: dict[str, Any]) -> str | None:
    if name in ("insert", "getMore", "killCursors", "endSessions", "ping", "hello", "isMaster"):
        return None
    if name == "find":
        return None if _by_id(command.get("filter")) else f"filter {command.get('filter')}"
    if name in ("update", "delete"):
        key = "updates" if name == "update" else "deletes"
        bad = [s["q"] for s in command.get(key, []) if not _by_id(s["q"])]
        return f"statements {bad}" if bad else None
    return "a pipeline" if name == "aggregate" else name


@pytest.fixture
async def listened() -> AsyncIterator[tuple[MongoStore, Statements]]:
    url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    statements = Statements()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        url, tz_aware=True, serverSelectionTimeoutMS=5000, event_listeners=[statements]
    )
    name = f"statements_{uuid.uuid4().hex[:8]}"
    store = MongoStore(client[name])
    await store.ensure_indexes()  # start-up: collections, indexes, the lists' floors
    try:
        yield store, statements
    finally:
        await client.drop_database(name)
        await client.close()


def record(topic: str, data: dict[str, Any], offset: int, key: str) -> Any:
    value = encode(envelope(topic, data, time=T0))
    return ConsumerRecord(topic, 0, offset, 0, 0, key.encode(), value, None, len(value), 0, [])


async def deliver(rt: GateContext, topic: str, *items: tuple[dict[str, Any], str]) -> list[str]:
    records = [record(topic, data, i, key) for i, (data, key) in enumerate(items)]
    return list(await process_partition(rt, topic, HANDLERS[topic], records))


async def test_messages_and_timers_reach_the_store_by_id_or_insert_only(
    listened: tuple[MongoStore, Statements],
) -> None:
    store, statements = listened
    rt, publisher, clock = runtime(store)  # type: ignore[arg-type]
    statements.listening = True
    one, two = packet_data(1, "RP-1"), packet_data(1, "RP-2")
    await deliver(rt, "packet-ready", (one, "RP-1"), (two, "RP-2"))
    await deliver(rt, "approval-decision", (approval_data(one), "RP-1"))
    clock.at = T0 + timedelta(minutes=6)  # the window has opened: the scheduler releases
    scheduler = Scheduler(rt, DueTimes(horizon=timedelta(minutes=1)))
    await scheduler.step()
    outside = forward(one, ["exec:outsider"])
    inside = forward(one, [RECIPIENTS[0]])
    outcomes = await deliver(rt, "forward-request", (inside, "RP-1"), (outside, "RP-1"))
    await deliver(rt, "review-feedback", (feedback("RP-1@r1", "other"), "RP-1"))
    await deliver(
        rt,
        "evidence-changed",
        (evidence_changed("incident-impact", "INC-1", "8"), "INC-1"),
        (evidence_changed("audience-scope", LANE, "2"), LANE),
    )
    await rt.gate.snapshots.flush()
    counts = await store.state_counts()
    await relay_step(rt, publisher)  # type: ignore[arg-type]
    await store.count_unpublished()
    statements.listening = False

    assert outcomes == ["applied", "refused"], "one forward allowed, one blocked"
    assert counts == {"superseded": 2}, "both revisions cite INC-1, which changed"
    assert len(statements.seen) > 40, "the workload reached the store"
    assert statements.not_by_id() == set()


async def test_a_find_of_many_ids_is_one_statement_the_id_index_serves(
    listened: tuple[MongoStore, Statements],
) -> None:
    store, statements = listened
    coll = store.facts.database["probe"]
    await coll.insert_many([{"_id": f"d{i}", "n": i} for i in range(FIND_CHUNK + 10)])
    ids = [f"d{i}" for i in range(FIND_CHUNK + 1)] + ["absent"]
    statements.listening = True
    found = await find_ids(coll, ids)
    none = await find_ids(coll, [])
    statements.listening = False
    plan = await store.facts.database.command(
        "explain", {"find": "probe", "filter": {"_id": {"$in": ["d1", "d2"]}}}
    )

    assert sorted(found) == sorted(ids[:-1]) and none == {}
    assert [name for name, _ in statements.seen] == ["find", "find"], "one find a chunk"
    assert statements.not_by_id() == set()
    assert _served_by_index(plan), f"the store scans for an _id list: {plan}"


def _served_by_index(plan: dict[str, Any]) -> bool:
    """FerretDB says whether it pushed the filter down; MongoDB names its winning plan."""
    if "filterPushdown" in plan:
        return plan["filterPushdown"] is True
    return "COLLSCAN" not in str(plan["queryPlanner"]["winningPlan"])
