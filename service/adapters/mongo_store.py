"""The FactStore on MongoDB (or FerretDB) through PyMongo's async API.

The one write that decides anything is the insert of seq n+1 under a unique _id; nothing
here relies on a filtered update as a compare-and-set (FerretDB's is read-then-write).

Every read and write on the hot path names its documents by `_id` (`{_id: <string>}`, or
`{_id: {$in: [...]}}` for several in one round trip) or is an insert: FerretDB's SQLite
backend pushes only those filters down to an index (the `$in` with the stack's addition,
ops/stack/stack.sh) and scans the whole table for any other, so a filter on `packet_id` or
`published` costs time linear in the log. Hence five collections beside the projections:

- `facts`     the log itself, one document per fact, `_id` = fact id (the decisive insert);
- `packets`   one snapshot per packet: the facts it had after its last write, as JSON text,
              and its registry as far as that writer knew it. A cache, never trusted alone:
              every load probes the next registry slot and the next seq of each revision
              by `_id`, and follows whatever it finds;
- `revision_numbers`  the registry: `<packet_id>#<k>` names the k-th revision number the
              packet's log received, claimed by a unique insert before that revision's first
              fact (service/adapters/store.py, `Log`), so a writer that never saw a rival's
              new revision cannot add its own beside it unnoticed, and a stale snapshot
              cannot hide a revision: the slots are dense, the load follows them;
- `lists`     append-only lists addressed by `_id` (service/adapters/mongo_lists.py): the
              outbox (mongo_outbox.py), the due times and fan-outs (mongo_index.py), the
              state totals (mongo_counts.py);
- `evidence`  the newest announced version of each (kind, ref), `_id` = "kind:ref".
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError, OperationFailure

from service.adapters.mongo_counts import Counts
from service.adapters.mongo_docs import (
    DUPLICATE_KEY,
    LARGE_FIND_CHUNK,
    NAMESPACE_EXISTS,
    UPDATE_CHUNK,
    UPDATE_COMMANDS,
    Doc,
    FactTexts,
    evidence_record,
    find_ids,
    from_doc,
    from_snapshot,
    projection_doc,
    snapshot_doc,
    to_doc,
    upserting,
)
from service.adapters.mongo_index import Index, minute
from service.adapters.mongo_outbox import Outbox
from service.adapters.mongo_registry import Registry
from service.adapters.store import (
    EvidenceRecord,
    Log,
    Projection,
    SeqTaken,
    claims_needed,
    logs_for,
)
from service.domain.commands import EvidenceVersion
from service.domain.facts import Fact, fact_id

__all__ = [
    "DUPLICATE_KEY",
    "MongoStore",
    "projection_doc",
    "snapshot_doc",
    "to_doc",
]


class MongoStore:
    def __init__(self, db: AsyncDatabase[Doc], cache_packets: int = 5_000) -> None:
        # The logs this instance wrote last, newest last: a load starts from them instead
        # of the stored snapshot, and probes past their end all the same.
        self.recent: OrderedDict[str, Log] = OrderedDict()
        self.cache_packets = cache_packets
        self.fact_texts = FactTexts()
        self.updating = asyncio.Semaphore(UPDATE_COMMANDS)
        self.facts = db["facts"]
        self.packets = db["packets"]
        self.outbox = db["outbox"]
        self.revisions = db["revisions"]
        self.evidence = db["evidence"]
        self.registry = db["revision_numbers"]
        self.numbers = Registry(self.registry)
        self.index = Index(db["lists"], self.revisions)
        self.counts = Counts(self.index.lists, self.revisions)
        self.outboxes = Outbox(self.index.lists, self.facts)

    async def ensure_indexes(self) -> None:
        """Collections and indexes, made at start: FerretDB takes a lock over its whole
        catalogue to create a collection, and creating one implicitly (first insert) while
        100 queries hold its connection pool deadlocks it (seen under load). The indexes
        serve MongoDB proper (audit, projection queries); FerretDB keeps but never plans them."""
        db = self.facts.database
        existing = set(await db.list_collection_names())
        colls = (self.facts, self.packets, self.outbox, self.revisions, self.evidence)
        for coll in (*colls, self.registry, self.index.coll):
            if coll.name not in existing:
                await _create_collection(db, coll.name)
        await self.facts.create_index([("packet_id", ASCENDING), ("revision", ASCENDING)])
        await self.revisions.create_index([("next_due", ASCENDING)])
        await self.revisions.create_index([("evidence", ASCENDING)])
        await self.revisions.create_index([("lane_id", ASCENDING)])
        now = datetime.now(UTC)
        await self.index.start(now)
        await self.counts.start(minute(now))
        await self._migrate_outbox()

    async def _migrate_outbox(self) -> None:
        """Entries a version before the listed outbox left unpublished (its `outbox`
        collection, read once at start): listed again for the relay, then deleted."""
        old = [d async for d in self.outbox.find({})]
        if not old:
            return
        facts = [d async for d in self.facts.find({"_id": {"$in": [e["fact"] for e in old]}})]
        await self.outboxes.list_facts([replace(from_doc(d), published=False) for d in facts])
        for entry in old:
            await self.outbox.delete_one({"_id": entry["_id"]})

    async def ping(self) -> None:
        await self.facts.database.command("ping")

    async def load_packet(self, packet_id: str) -> list[Fact]:
        """The log itself (a scan on FerretDB): for audit, the HTTP view and conflicts."""
        return [from_doc(d) async for d in self.facts.find({"packet_id": packet_id})]

    async def load_packets(self, packet_ids: Sequence[str]) -> dict[str, Log]:
        """Recent logs or snapshots, completed by probing past their end: all by _id, the
        probes of every packet together (one find a collection a round)."""
        found = {p: self.recent[p].copy() for p in packet_ids if p in self.recent}
        cold = [p for p in packet_ids if p not in found]
        docs = await find_ids(self.packets, cold, per_find=LARGE_FIND_CHUNK)
        found.update({p: from_snapshot(docs.get(p)) for p in cold})
        await self._complete(found)
        return found

    async def _complete(self, logs: Mapping[str, Log]) -> None:
        """Add to each log whatever the store holds past its end: registry slots claimed
        since, and facts past each revision's last seq (a writer that died before saving its
        snapshot, or a rival whose snapshot was overwritten). A round asks for the next slot
        and the next seq of every packet still growing; what it finds is probed past again."""
        probes = {pid: _probes(log) for pid, log in logs.items()}
        slots: dict[str, int] = {pid: len(log.numbers) + 1 for pid, log in logs.items()}
        while slots or any(probes.values()):
            wanted = {fact_id(pid, r, s): pid for pid, ps in probes.items() for r, s in ps}
            numbers, docs = await asyncio.gather(
                self.numbers.numbers_at(slots), find_ids(self.facts, wanted)
            )
            probes = {}
            for doc in docs.values():
                fact = from_doc(doc)
                logs[fact.packet_id].append(fact)
                probes.setdefault(fact.packet_id, []).append((fact.revision, fact.seq + 1))
            for pid, number in numbers.items():
                log = logs[pid]
                log.numbers.append(number)
                if all(f.revision != number for f in log) and all(
                    r != number for r, _ in probes.get(pid, [])
                ):
                    probes.setdefault(pid, []).append((number, 1))
            slots = {pid: len(logs[pid].numbers) + 1 for pid in numbers}

    async def _claim(self, facts: Sequence[Fact], logs: Mapping[str, Log] | None) -> int:
        """Claim the registry slots these facts need; the index of the first fact whose
        claim a rival took, or len(facts) (service/adapters/mongo_registry.py)."""
        known = await logs_for(facts, logs, self.load_packets)
        wanted: dict[str, list[tuple[int, int]]] = {}
        for index, packet_id, number in claims_needed(facts, known):
            wanted.setdefault(packet_id, []).append((index, number))
        return await self.numbers.claim(wanted, known, len(facts))

    async def _replace_all(self, coll: AsyncCollection[Doc], docs: Sequence[Doc]) -> None:
        """Upsert each document by _id, in small update commands (see UPDATE_CHUNK)."""
        for start in range(0, len(docs), UPDATE_CHUNK):
            chunk = docs[start : start + UPDATE_CHUNK]
            ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in chunk]
            async with self.updating:
                await upserting(functools.partial(coll.bulk_write, ops, ordered=False))

    async def save_snapshots(self, logs: Mapping[str, Log]) -> None:
        docs = [snapshot_doc(p, log, self.fact_texts) for p, log in logs.items()]
        await self._replace_all(self.packets, docs)
        self.remember(logs)

    def remember(self, logs: Mapping[str, Log]) -> None:
        for packet_id, log in logs.items():
            kept = self.recent.get(packet_id)
            if kept is not None and len(kept) > len(log):
                continue  # a later write remembered more of this log already
            published = [f if f.published else replace(f, published=True) for f in log]
            self.recent[packet_id] = Log(published, log.numbers)
            self.recent.move_to_end(packet_id)
        while len(self.recent) > self.cache_packets:
            self.recent.popitem(last=False)

    async def append(self, facts: Sequence[Fact], logs: Mapping[str, Log] | None = None) -> None:
        if not facts:
            return
        claimed = await self._claim(facts, logs)
        await self._insert(facts[:claimed])
        if claimed < len(facts):
            raise SeqTaken(facts[claimed].id)

    async def _insert(self, facts: Sequence[Fact]) -> None:
        if not facts:
            return
        await self.outboxes.list_facts(facts)
        docs = [to_doc(f) for f in facts]
        try:
            if len(docs) == 1:
                await self.facts.insert_one(docs[0])
            else:
                await self.facts.insert_many(docs, ordered=True)
        except DuplicateKeyError as err:
            await self._forget(facts)
            raise SeqTaken(facts[0].id) from err
        except BulkWriteError as err:
            first = err.details["writeErrors"][0]
            if first.get("code") != DUPLICATE_KEY:
                raise
            await self._forget(facts[first["index"] :])
            raise SeqTaken(facts[first["index"]].id) from err

    async def _forget(self, lost: Sequence[Fact]) -> None:
        """Listed facts that never entered the log: nothing of theirs to publish."""
        self.outboxes.lost(lost)

    async def mark_published(self, facts: Sequence[Fact]) -> None:
        await self.outboxes.mark(facts)

    async def unpublished(self, limit: int, before: datetime | None = None) -> list[Fact]:
        return await self.outboxes.unpublished(limit, before)

    async def count_unpublished(self) -> int:
        return self.outboxes.count()

    async def save_projections(self, rows: Iterable[Projection]) -> None:
        await self._replace_all(self.revisions, [projection_doc(row) for row in rows])

    async def note_written(
        self, rows: Sequence[Projection], moves: Mapping[str, int] | None = None
    ) -> None:
        """The lists' entries of these rows and the moves, in one insert command
        (service/adapters/mongo_index.py); the rows themselves follow off the path."""
        now = datetime.now(UTC)
        extra = [(f"moves:{minute(now)}", {"moves": dict(moves)})] if moves else []
        await self.index.note(rows, now, extra)

    async def due_times(self, until: datetime) -> dict[str, datetime]:
        return await self.index.due_times(until, datetime.now(UTC))

    async def packets_citing(self, kind: str, ref: str) -> list[str]:
        return await self.index.live_packets(f"cites:{kind}:{ref}")

    async def packets_in_lane(self, lane_id: str) -> list[str]:
        return await self.index.live_packets(f"lane:{lane_id}")

    async def state_counts(self) -> dict[str, int]:
        return await self.counts.current(minute(datetime.now(UTC)))

    async def rebuild_counts(self, counted: Mapping[str, int]) -> None:
        await self.counts.rebuild(counted, minute(datetime.now(UTC)))

    async def record_evidence(
        self, kind: str, ref: str, version: EvidenceVersion, now: datetime
    ) -> EvidenceRecord:
        key = f"{kind}:{ref}"
        found = await self.evidence.find_one({"_id": key})
        known = None if found is None else evidence_record(found)
        if known is not None and known.step(version.event_id) != "new":
            return known
        history = [*(known.history if known else ()), version.event_id]
        doc = {
            "_id": key,
            "kind": kind,
            "ref": ref,
            "version": version.version,
            "event_id": version.event_id,
            "as_of": now,
            "history": history,
        }
        # Events of one (kind, ref) share a partition key, so one consumer writes this doc.
        await upserting(lambda: self.evidence.replace_one({"_id": key}, doc, upsert=True))
        return evidence_record(doc)

    async def evidence_versions(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], EvidenceVersion]:
        wanted = {f"{k}:{r}": (k, r) for k, r in keys}
        docs = await find_ids(self.evidence, wanted)
        return {wanted[i]: EvidenceVersion(d["version"], d["event_id"]) for i, d in docs.items()}

    async def all_facts(self) -> AsyncIterator[Fact]:
        order = [("packet_id", ASCENDING), ("revision", ASCENDING), ("seq", ASCENDING)]
        async for doc in self.facts.find({}).sort(order):
            yield from_doc(doc)

    async def packet_ids(self) -> list[str]:
        return sorted(str(p) for p in await self.facts.distinct("packet_id"))


def _probes(log: Log) -> list[tuple[int, int]]:
    """(revision, seq) just past the end of each revision the log has or names."""
    ends: dict[int, int] = {}
    for fact in log:
        ends[fact.revision] = max(ends.get(fact.revision, 0), fact.seq)
    return [(r, ends.get(r, 0) + 1) for r in dict.fromkeys([*log.numbers, *ends])]


async def _create_collection(db: AsyncDatabase[Doc], name: str) -> None:
    """Create `name` unless another instance just did (MongoDB: CollectionInvalid; FerretDB:
    NamespaceExists, code 48)."""
    try:
        await db.create_collection(name)
    except CollectionInvalid:
        return
    except OperationFailure as err:
        if err.code != NAMESPACE_EXISTS:
            raise
