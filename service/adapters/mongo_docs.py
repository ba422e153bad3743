"""Document shapes of the MongoDB fact log and its side collections, and write helpers.

Why the layout is `_id`-addressed throughout: service/adapters/mongo_store.py and docs/store.md.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from service.adapters.store import EvidenceRecord, Log, Projection
from service.domain.commands import EvidenceVersion
from service.domain.facts import Fact

Doc = dict[str, Any]
DUPLICATE_KEY = 11000
NAMESPACE_EXISTS = 48  # FerretDB's answer to creating a collection another client just made
# An outbox entry whose fact never appeared: its writer died between the two inserts.
ORPHAN_AFTER = timedelta(minutes=10)
# FerretDB runs an update command's statements each with its own open query, and closes
# them all only when the command ends; with its 100 SQLite connections per database, one
# update command of 100 statements (or a few large ones at once) waits forever for a
# connection it holds itself (seen: a 136-record batch stalled the store until the client
# timed out). So updates go in commands of UPDATE_CHUNK statements, UPDATE_COMMANDS at once.
UPDATE_CHUNK = 16
UPDATE_COMMANDS = 2
# Documents asked for in one `{_id: {$in: [...]}}` find (the local FerretDB serves up to
# 1,000 from its _id index: ops/stack/stack.sh). FerretDB 1.24 answers a find in one reply
# however large (MongoDB splits at 16 MiB) and refuses one over 48 MB, so finds of large
# documents (snapshots: a packet's whole log) ask for fewer at once.
FIND_CHUNK = 500
LARGE_FIND_CHUNK = 32


def to_doc(fact: Fact) -> Doc:
    doc = fact.to_json()
    doc["_id"] = doc.pop("id")
    del doc["published"]  # publication is the outbox's business, not the log's
    # Payloads are stored as JSON text: any JSON the contract allows (keys with dots or a
    # leading $, deep nesting) survives the store unchanged, so the chain re-verifies.
    doc["data"] = json.dumps(doc["data"], ensure_ascii=False)
    doc["outbox"] = json.dumps(doc["outbox"], ensure_ascii=False)
    return doc


def from_doc(doc: Mapping[str, Any]) -> Fact:
    obj = dict(doc)
    obj["data"] = json.loads(obj["data"])
    obj["outbox"] = json.loads(obj["outbox"])
    obj["published"] = True
    return Fact.from_json(obj)


class FactTexts:
    """Each fact's JSON text for snapshots, made once: a packet's snapshot is rewritten whole
    after each of its writes, but its facts never change (kept by id and hash, the newest
    `limit` made: a few kilobytes each, a created fact carries its whole packet; with 20,000
    the benchmark's peak RSS came to 250 MB, its goal)."""

    def __init__(self, limit: int = 5_000) -> None:
        self.limit = limit
        self.texts: dict[tuple[str, str], str] = {}

    def of(self, fact: Fact) -> str:
        key = (fact.id, fact.hash)
        text = self.texts.get(key)
        if text is None:
            text = json.dumps({**fact.hashed_content(), "hash": fact.hash}, ensure_ascii=False)
            self.texts[key] = text
            if len(self.texts) > self.limit:
                del self.texts[next(iter(self.texts))]  # the oldest made
        return text


def snapshot_doc(packet_id: str, log: Sequence[Fact], texts: FactTexts | None = None) -> Doc:
    """A packet's log and, when it is a `Log`, the registry slots its writer knew."""
    made = texts or FactTexts()
    numbers = log.numbers if isinstance(log, Log) else []
    text = "[" + ", ".join(made.of(f) for f in log) + "]"
    return {"_id": packet_id, "log": text, "numbers": numbers}


def from_snapshot(doc: Mapping[str, Any] | None) -> Log:
    if doc is None:
        return Log()
    facts = [Fact.from_json({**obj, "published": True}) for obj in json.loads(doc["log"])]
    return Log(facts, [int(n) for n in doc.get("numbers", [])])


def projection_doc(row: Projection) -> Doc:
    return {
        "_id": row.id,
        "packet_id": row.packet_id,
        "revision": row.revision,
        "state": row.state,
        "lane_id": row.lane_id,
        "evidence": list(row.evidence),
        "next_due": row.next_due,
    }


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


async def find_ids(
    coll: AsyncCollection[Doc],
    ids: Iterable[str],
    projection: Mapping[str, int] | None = None,
    per_find: int = FIND_CHUNK,
) -> dict[str, Doc]:
    """The documents of these `_id`s that exist, by `_id`: one find per `per_find` ids, none
    for no ids (an empty `$in` would be a scan on FerretDB)."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Doc] = {}
    for start in range(0, len(wanted), per_find):
        chunk = wanted[start : start + per_find]
        if len(chunk) == 1:
            doc = await coll.find_one({"_id": chunk[0]}, projection)
            if doc is not None:
                found[chunk[0]] = doc
            continue
        # A batch larger than the answer: the server closes the cursor with its first reply
        # (a batch of exactly the answer's size would cost a getMore).
        cursor = coll.find({"_id": {"$in": chunk}}, projection, batch_size=len(chunk) + 1)
        async for doc in cursor:
            found[str(doc["_id"])] = doc
    return found


async def insert_claiming(coll: AsyncCollection[Doc], docs: Sequence[Doc]) -> list[int]:
    """Insert each document unless its `_id` is taken: the indexes of those a rival held
    (a unique insert is how lists and registries claim a position)."""
    try:
        await coll.insert_many(list(docs), ordered=False)
    except BulkWriteError as err:
        errors = err.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return sorted(int(e["index"]) for e in errors)
    return []


async def insert_new(coll: AsyncCollection[Doc], docs: Sequence[Doc]) -> None:
    """Insert, counting a document already there (same _id) as done."""
    if not docs:
        return
    try:
        await coll.insert_many(list(docs), ordered=False)
    except BulkWriteError as err:
        if any(e.get("code") != DUPLICATE_KEY for e in err.details.get("writeErrors", [])):
            raise


def evidence_record(doc: Mapping[str, Any]) -> EvidenceRecord:
    return EvidenceRecord(
        latest=EvidenceVersion(doc["version"], doc["event_id"]),
        as_of=doc["as_of"],
        history=tuple(doc["history"]),
    )
