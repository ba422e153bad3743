"""The FactStore on MongoDB (or FerretDB) through PyMongo's async API.

The one write that decides anything is the insert of seq n+1 under a unique _id; nothing
here relies on a filtered update as a compare-and-set (FerretDB's is read-then-write).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from service.adapters.store import LIVE_STATES, EvidenceRecord, Projection, SeqTaken
from service.domain.commands import EvidenceVersion
from service.domain.facts import Fact

Doc = dict[str, Any]
DUPLICATE_KEY = 11000


def to_doc(fact: Fact) -> Doc:
    doc = fact.to_json()
    doc["_id"] = doc.pop("id")
    # Payloads are stored as JSON text: any JSON the contract allows (keys with dots or a
    # leading $, deep nesting) survives the store unchanged, so the chain re-verifies.
    doc["data"] = json.dumps(doc["data"], ensure_ascii=False)
    doc["outbox"] = json.dumps(doc["outbox"], ensure_ascii=False)
    doc["published"] = not fact.outbox
    return doc


def from_doc(doc: Mapping[str, Any]) -> Fact:
    obj = dict(doc)
    obj["data"] = json.loads(obj["data"])
    obj["outbox"] = json.loads(obj["outbox"])
    return Fact.from_json(obj)


async def upserting(write: Callable[[], Awaitable[object]], attempts: int = 5) -> None:
    """An upsert, again if it collided. FerretDB's upsert is find-then-insert: two writers
    upserting a new _id at once collide (E11000, sometimes a reply without nModified that
    PyMongo reports as KeyError); the retry finds the document and replaces it."""
    for attempt in range(attempts):
        try:
            await write()
            return
        except (DuplicateKeyError, BulkWriteError, KeyError):
            if attempt == attempts - 1:
                raise


def _record(doc: Mapping[str, Any]) -> EvidenceRecord:
    return EvidenceRecord(
        latest=EvidenceVersion(doc["version"], doc["event_id"]),
        as_of=doc["as_of"],
        history=tuple(doc["history"]),
    )


class MongoStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.facts = db["facts"]
        self.revisions = db["revisions"]
        self.evidence = db["evidence"]

    async def ensure_indexes(self) -> None:
        await self.facts.create_index([("packet_id", ASCENDING), ("revision", ASCENDING)])
        await self.facts.create_index([("published", ASCENDING)])
        await self.revisions.create_index([("next_due", ASCENDING)])
        await self.revisions.create_index([("evidence", ASCENDING)])
        await self.revisions.create_index([("lane_id", ASCENDING)])

    async def ping(self) -> None:
        await self.facts.database.command("ping")

    async def load_packet(self, packet_id: str) -> list[Fact]:
        return [from_doc(d) async for d in self.facts.find({"packet_id": packet_id})]

    async def load_packets(self, packet_ids: Sequence[str]) -> dict[str, list[Fact]]:
        found: dict[str, list[Fact]] = {p: [] for p in packet_ids}
        async for doc in self.facts.find({"packet_id": {"$in": list(found)}}):
            found[doc["packet_id"]].append(from_doc(doc))
        return found

    async def append(self, facts: Sequence[Fact]) -> None:
        if not facts:
            return
        docs = [to_doc(f) for f in facts]
        try:
            if len(docs) == 1:
                await self.facts.insert_one(docs[0])
            else:
                await self.facts.insert_many(docs, ordered=True)
        except DuplicateKeyError as err:
            raise SeqTaken(str(docs[0]["_id"])) from err
        except BulkWriteError as err:
            first = err.details["writeErrors"][0]
            if first.get("code") != DUPLICATE_KEY:
                raise
            raise SeqTaken(str(docs[first["index"]]["_id"])) from err

    async def mark_published(self, fact_ids: Sequence[str]) -> None:
        if fact_ids:
            await self.facts.update_many(
                {"_id": {"$in": list(fact_ids)}}, {"$set": {"published": True}}
            )

    async def unpublished(self, limit: int) -> list[Fact]:
        cursor = self.facts.find({"published": False}).sort("at", ASCENDING).limit(limit)
        return [from_doc(d) async for d in cursor]

    async def count_unpublished(self) -> int:
        return await self.facts.count_documents({"published": False})

    async def save_projections(self, rows: Iterable[Projection]) -> None:
        ops = [
            ReplaceOne(
                {"_id": row.id},
                {
                    "_id": row.id,
                    "packet_id": row.packet_id,
                    "revision": row.revision,
                    "state": row.state,
                    "lane_id": row.lane_id,
                    "evidence": list(row.evidence),
                    "next_due": row.next_due,
                },
                upsert=True,
            )
            for row in rows
        ]
        if ops:
            await upserting(lambda: self.revisions.bulk_write(ops, ordered=False))

    async def due_packets(self, now: datetime, limit: int) -> list[str]:
        cursor = self.revisions.find({"next_due": {"$lte": now}}, {"packet_id": 1}).limit(limit)
        return sorted({d["packet_id"] async for d in cursor})

    async def packets_citing(self, kind: str, ref: str) -> list[str]:
        query = {"evidence": f"{kind}:{ref}", "state": {"$in": list(LIVE_STATES)}}
        return sorted({d["packet_id"] async for d in self.revisions.find(query, {"packet_id": 1})})

    async def packets_in_lane(self, lane_id: str) -> list[str]:
        query = {"lane_id": lane_id, "state": {"$in": list(LIVE_STATES)}}
        return sorted({d["packet_id"] async for d in self.revisions.find(query, {"packet_id": 1})})

    async def state_counts(self) -> dict[str, int]:
        pipeline: list[Doc] = [{"$group": {"_id": "$state", "n": {"$sum": 1}}}]
        cursor = await self.revisions.aggregate(pipeline)
        return {d["_id"]: int(d["n"]) async for d in cursor if d["_id"]}

    async def record_evidence(
        self, kind: str, ref: str, version: EvidenceVersion, now: datetime
    ) -> EvidenceRecord:
        key = f"{kind}:{ref}"
        found = await self.evidence.find_one({"_id": key})
        known = None if found is None else _record(found)
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
        return _record(doc)

    async def evidence_versions(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], EvidenceVersion]:
        ids = [f"{k}:{r}" for k, r in keys]
        if not ids:
            return {}
        found = self.evidence.find({"_id": {"$in": ids}})
        return {
            (d["kind"], d["ref"]): EvidenceVersion(d["version"], d["event_id"]) async for d in found
        }

    async def all_facts(self) -> AsyncIterator[Fact]:
        order = [("packet_id", ASCENDING), ("revision", ASCENDING), ("seq", ASCENDING)]
        async for doc in self.facts.find({}).sort(order):
            yield from_doc(doc)

    async def packet_ids(self) -> list[str]:
        return sorted(str(p) for p in await self.facts.distinct("packet_id"))
