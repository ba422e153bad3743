"""The outbox on MongoDB as `_id`-addressed lists (service/adapters/mongo_lists.py): what
the relay finds without scanning, and nothing to delete.

Before an append's facts go in, their writer lists them, one entry per append: `(fact id,
hash, time)` of each fact with events, in its own list for the minute,
`outbox:<writer>:<minute>` (one writer per list: no rival for its positions), and lists
itself once a minute in `writers:<minute>`. Once every listed fact that entered the log has
been published, a marker `done:<entry id>` is inserted (the deferred marks of
service/adapters/outbox.py). The relay reads every writer's entries of the minutes from its
floor by `_id`, and for an entry older than the publish grace without its marker reads the
listed facts by `_id`: a fact that holds the listed hash is published, one that holds another
lost its race, one not there yet waits (after ORPHAN_AFTER its writer is taken to have died
before the insert). The floor (`outbox-floor`, persisted a little behind) never passes an
entry not resolved yet, so a restart reads from there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from service.adapters.mongo_docs import ORPHAN_AFTER, find_ids, from_doc, insert_new
from service.adapters.mongo_index import minute
from service.adapters.mongo_lists import DenseLists, Floor
from service.domain.facts import Fact
from service.domain.times import parse_time

Doc = dict[str, Any]
FLOOR_ID = "outbox-floor"
READ_BEHIND = 2  # minutes read again behind the current one (an append that came late)
PERSIST_BEHIND = 2


def _marker(entry_id: str) -> str:
    return f"done:{entry_id}"


class Outbox:
    def __init__(self, lists: DenseLists, facts: AsyncCollection[Doc]) -> None:
        self.lists = lists
        self.coll = lists.coll
        self.facts = facts
        self.writer = uuid.uuid4().hex[:12]
        self.listed_in: set[int] = set()  # minutes whose writers list names this one
        self.open: dict[str, set[str]] = {}  # entry id: its facts not yet published
        self.entry_of: dict[str, set[str]] = {}  # fact id: the open entries listing it
        self.finished: list[str] = []  # entries whose marker is due
        self.floor = Floor(lists.coll, FLOOR_ID, PERSIST_BEHIND)
        self.seen: dict[str, Doc] = {}  # entries the relay read, not yet resolved

    async def list_facts(self, facts: Sequence[Fact]) -> None:
        """Before the facts are inserted: one entry naming those with events."""
        listed = [f for f in facts if f.outbox]
        if not listed:
            return
        now = datetime.now(UTC)
        m = minute(now)
        # Documents, not pairs: FerretDB stores no arrays nested in arrays.
        named = [{"id": f.id, "hash": f.hash, "at": f.at} for f in listed]
        entry: Doc = {"facts": named, "written": now}
        items: list[tuple[str, Doc]] = []
        if m not in self.listed_in:
            items.append((f"writers:{m}", {"writer": self.writer}))
        items.append((f"outbox:{self.writer}:{m}", entry))
        placed = await self.lists.append(items)
        self.listed_in.add(m)
        self._open(placed[-1], (f.id for f in listed))

    def _open(self, entry_id: str, fact_ids: Iterable[str]) -> None:
        ids = set(fact_ids)
        self.open[entry_id] = ids
        for fact_id in ids:
            self.entry_of.setdefault(fact_id, set()).add(entry_id)

    def lost(self, facts: Sequence[Fact]) -> None:
        """These listed facts never entered the log (another writer took their seq)."""
        self._resolve(f.id for f in facts if f.outbox)

    def _resolve(self, fact_ids: Iterable[str]) -> None:
        for fact_id in fact_ids:
            for entry in self.entry_of.pop(fact_id, set()):
                left = self.open.get(entry, set())
                left.discard(fact_id)
                if not left:
                    self.open.pop(entry, None)
                    self.finished.append(entry)

    async def mark(self, facts: Sequence[Fact]) -> None:
        """These facts' events are on Kafka: mark every entry now wholly published."""
        self._resolve(f.id for f in facts if f.outbox)
        if not self.finished:
            return
        done, self.finished = self.finished, []
        try:
            await insert_new(
                self.coll, [{"_id": _marker(e), "at": datetime.now(UTC)} for e in done]
            )
        except BaseException:
            self.finished[:0] = done  # tried again at the next mark
            raise

    def count(self) -> int:
        """Facts whose events may not be on Kafka yet, as this instance knows them: those it
        listed and those its relay found, until they are marked."""
        return len(self.entry_of)

    async def unpublished(self, limit: int, before: datetime | None = None) -> list[Fact]:
        """The relay's view: listed facts in the log, unpublished, decided before `before`
        (younger ones are their writer's to publish and mark)."""
        now = datetime.now(UTC)
        await self._read_entries(now)
        ripe = sorted(
            (e for e in self.seen.values() if before is None or _decided(e) <= before),
            key=lambda e: (_decided(e), e["_id"]),
        )
        marks = await find_ids(self.coll, (_marker(e["_id"]) for e in ripe), {"_id": 1})
        unmarked = [e for e in ripe if _marker(e["_id"]) not in marks]
        for entry in ripe:
            if _marker(entry["_id"]) in marks:
                del self.seen[entry["_id"]]
        waiting: list[Fact] = []
        for entry in unmarked:
            if len(waiting) >= limit:
                break
            waiting += await self._check(entry, now)
        unique = list({f.id: f for f in waiting}.values())  # a fact two entries list
        await self._advance(now)
        return sorted(unique, key=lambda f: (f.at, f.packet_id, f.revision, f.seq))

    async def _read_entries(self, now: datetime) -> None:
        floor = await self._floor(now)
        for m in range(floor, minute(now) + 1):
            writers = sorted({str(e["writer"]) for e in await self.lists.read(f"writers:{m}")})
            found = await asyncio.gather(*(self.lists.read_new(f"outbox:{w}:{m}") for w in writers))
            for entry in (e for entries in found for e in entries):
                self.seen[entry["_id"]] = entry

    async def _check(self, entry: Doc, now: datetime) -> list[Fact]:
        """The entry's facts to publish; the entry is marked at once when there are none."""
        listed = [(str(f["id"]), str(f["hash"])) for f in entry["facts"]]
        docs = await find_ids(self.facts, (i for i, _ in listed))
        published: list[Fact] = []
        missing = False
        for id_, hash_ in listed:
            doc = docs.get(id_)
            if doc is None:
                missing = True
            elif doc["hash"] == hash_:
                published.append(replace(from_doc(doc), published=False))
        orphaned = missing and now - _aware(entry["written"]) > ORPHAN_AFTER
        if missing and not orphaned:
            return []  # its writer may still insert them: looked at again next time
        if published:
            self._open(entry["_id"], (f.id for f in published))  # marked once published
            return published
        del self.seen[entry["_id"]]
        await insert_new(self.coll, [{"_id": _marker(entry["_id"]), "at": now}])
        return []

    async def _floor(self, now: datetime) -> int:
        if self.floor.value is None and await self.floor.load() is None:
            self.floor.value = minute(now) - READ_BEHIND
        assert self.floor.value is not None
        return self.floor.value

    async def _advance(self, now: datetime) -> None:
        """Up to the oldest minute with an entry not resolved, at most READ_BEHIND behind."""
        held = [_minute_of(e) for e in self.seen.values()]
        await self.floor.advance(min([minute(now) - READ_BEHIND, *held]))


def _minute_of(entry: Doc) -> int:
    return int(str(entry["list"]).rsplit(":", 1)[1])


def _decided(entry: Doc) -> datetime:
    """When the entry's facts were decided (the latest of them)."""
    return max(parse_time(str(f["at"])) for f in entry["facts"])


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
