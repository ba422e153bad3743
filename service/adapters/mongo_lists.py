"""Append-only lists addressed by `_id` alone, for what the gate must find without a scan.

FerretDB's SQLite backend pushes down only a filter `{_id: <string>}` and scans the table for
any other (service/adapters/mongo_store.py). A list is therefore a run of documents
`<name>#1`, `<name>#2`, ...: an append claims the next positions by unique inserts (a rival
that took one first makes the entry move up), a read follows the positions by `_id` until
one is missing. Positions are dense: a writer starts where it last saw the list end (at 1 for
a list it never saw), a position it finds taken sends it searching forward from there (by
doubling, then halving: O(log n) reads), and a command that failed leaves its positions to
the retry.
A read asks for PROBE_AHEAD positions a find, so it also sees an entry behind a gap that
something unforeseen left, if the gap falls early enough in its window (0 to 15 positions
past it are read).

Entries are hints for their readers (service/adapters/mongo_index.py): each names a packet
that is then loaded and decided, so an entry read twice costs a decision that changes
nothing, never a wrong one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from service.adapters.errors import ListsContended
from service.adapters.mongo_docs import find_ids, insert_claiming, upserting

Doc = dict[str, Any]
PROBE_AHEAD = 16  # positions read together (one find): the next one and those past it
ROUNDS = 20  # appends moved up this often in one call give up (a transient store error)
CACHED_LISTS = 2_000
CACHED_ENTRIES = 50_000  # entries `read` keeps, over all lists (a lane's may be long)


def position_id(name: str, k: int) -> str:
    return f"{name}#{k}"


class DenseLists:
    def __init__(self, coll: AsyncCollection[Doc]) -> None:
        self.coll = coll
        self.ends: OrderedDict[str, int] = OrderedDict()  # next free position, per list
        self.read_upto: OrderedDict[str, int] = OrderedDict()  # positions `read_new` gave
        self.prefixes: OrderedDict[str, list[Doc]] = OrderedDict()  # what `read` gave
        self.cached = 0  # entries in `prefixes`
        self.queue: list[tuple[list[tuple[str, Doc]], asyncio.Future[list[str]]]] = []
        self.flushing: asyncio.Future[None] | None = None

    async def append(self, items: Sequence[tuple[str, Doc]]) -> list[str]:
        """Each (list name, entry) at the end of its list; the `_id` each got, in order.
        Appends made side by side in this process go in together: one flush at a time
        writes everything asked for since the last, in one insert command a round (a group
        commit), so they never collide with each other and share their round trips."""
        if not items:
            return []
        asked: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self.queue.append((list(items), asked))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.ensure_future(self._flush_queue())
        return await asyncio.shield(asked)

    async def _flush_queue(self) -> None:
        while self.queue:
            group, self.queue = self.queue, []
            items = [item for asked, _ in group for item in asked]
            try:
                placed = await self._append_now(items)
            except Exception as exc:  # every append of the group fails alike: each retries
                for _, asked in group:
                    if not asked.done():
                        asked.set_exception(exc)
                continue
            start = 0
            for entries, asked in group:
                if not asked.done():
                    asked.set_result(placed[start : start + len(entries)])
                start += len(entries)

    async def _append_now(self, items: Sequence[tuple[str, Doc]]) -> list[str]:
        """The appends in one insert command a round. A position found taken (a rival's)
        sends its list's end forward by a search from there (a writer far behind catches up
        in O(log n) reads); a command that failed leaves the ends where they were, so that a
        retry fills the same positions and leaves no gap."""
        placed: list[str] = [""] * len(items)
        pending = list(range(len(items)))
        for _ in range(ROUNDS):
            if not pending:
                return placed
            docs: list[Doc] = []
            planned: dict[str, int] = {}
            for i in pending:
                name, body = items[i]
                k = planned.get(name) or self._end(name)
                planned[name] = k + 1
                docs.append({**body, "_id": position_id(name, k), "list": name, "k": k})
            taken = await self._insert(docs)
            for name, end in planned.items():
                self._remember_end(name, end)
            for doc in (docs[i] for i in taken):
                self._remember_end(doc["list"], await self._find_end(doc["list"], doc["k"]))
            for i, doc in zip(pending, docs, strict=True):
                placed[i] = doc["_id"]
            pending = [pending[i] for i in taken]
        raise ListsContended(f"{len(pending)} list entries found their positions taken")

    async def _insert(self, docs: list[Doc]) -> list[int]:
        """Indexes of the documents whose position a rival held."""
        return await insert_claiming(self.coll, docs)

    def _end(self, name: str) -> int:
        """Where this process last saw the list end; for a list it never saw, 1: most lists
        are new when first written (a minute's, an evidence item's), and the insert tells
        when one is not (its position is taken: the end is then searched for from there)."""
        return self.ends.get(name, 1)

    async def _find_end(self, name: str, taken: int = 0) -> int:
        """The first missing position past `taken` (a position known taken, 0: none): step
        forward by doubling until one is missing, then halve between."""
        low, step = taken, 1
        high = low + step
        while await self._taken(name, high):
            low, step = high, step * 2
            high = low + step
        while high - low > 1:
            middle = (low + high) // 2
            if await self._taken(name, middle):
                low = middle
            else:
                high = middle
        return high

    async def _taken(self, name: str, k: int) -> bool:
        return await self.coll.find_one({"_id": position_id(name, k)}, {"_id": 1}) is not None

    def _remember_end(self, name: str, end: int) -> None:
        self.ends[name] = max(end, self.ends.get(name, 0))
        self.ends.move_to_end(name)
        while len(self.ends) > CACHED_LISTS:
            self.ends.popitem(last=False)

    async def read(self, name: str) -> list[Doc]:
        """Every entry of the list, oldest first (the dense prefix is kept between reads,
        within CACHED_ENTRIES entries over all lists)."""
        kept = self.prefixes.pop(name, [])
        found, beyond = await self._read(name, len(kept))
        prefix = kept + found
        self.prefixes[name] = prefix
        self.cached += len(found)
        while self.cached > CACHED_ENTRIES and len(self.prefixes) > 1:
            self.cached -= len(self.prefixes.popitem(last=False)[1])
        return [*prefix, *beyond]

    async def read_new(self, name: str) -> list[Doc]:
        """The entries not returned by an earlier `read_new` of this list in this process
        (an entry behind a gap may come again: it is a hint). Only positions are kept."""
        upto = self.read_upto.pop(name, 0)
        found, beyond = await self._read(name, upto)
        self.read_upto[name] = upto + len(found)
        while len(self.read_upto) > CACHED_LISTS:
            self.read_upto.popitem(last=False)
        return [*found, *beyond]

    async def _read(self, name: str, upto: int) -> tuple[list[Doc], list[Doc]]:
        """The dense run of entries past position `upto`, and any found past its end."""
        found: list[Doc] = []
        beyond: list[Doc] = []
        while True:
            start = upto + len(found) + 1
            ids = [position_id(name, k) for k in range(start, start + PROBE_AHEAD)]
            by_id = await find_ids(self.coll, ids)
            docs = [by_id.get(i) for i in ids]
            run = _dense(docs)
            found.extend(run)
            if len(run) < PROBE_AHEAD:
                beyond = [d for d in docs[len(run) + 1 :] if d is not None]
                break
        last = max([upto + len(found), *(int(d["k"]) for d in beyond)])
        self._remember_end(name, last + 1)
        return found, beyond


class Floor:
    """The oldest minute a reader of per-minute lists may still have to read: kept in memory,
    moved only up, and persisted `behind` minutes lower (at most once a minute) under
    `doc_id`, so that a restarted reader reads those minutes again."""

    def __init__(self, coll: AsyncCollection[Doc], doc_id: str, behind: int) -> None:
        self.coll = coll
        self.doc_id = doc_id
        self.behind = behind
        self.value: int | None = None
        self.persisted: int | None = None

    async def load(self) -> int | None:
        """The persisted floor (None: none yet), which becomes the one in memory."""
        doc = await self.coll.find_one({"_id": self.doc_id})
        if doc is not None:
            self.value = self.persisted = int(doc["minute"])
        return self.value

    async def advance(self, floor: int) -> None:
        self.value = floor if self.value is None else max(floor, self.value)
        keep = self.value - self.behind
        if self.persisted is not None and keep <= self.persisted:
            return
        doc = {"_id": self.doc_id, "minute": keep, "at": datetime.now(UTC)}
        await upserting(lambda: self.coll.replace_one({"_id": self.doc_id}, doc, upsert=True))
        self.persisted = keep


def _dense(docs: Sequence[Doc | None]) -> list[Doc]:
    """The leading run of found documents."""
    run: list[Doc] = []
    for doc in docs:
        if doc is None:
            break
        run.append(doc)
    return run
