"""Append-only lists addressed by `_id` alone, for what the gate must find without a scan.

FerretDB's SQLite backend pushes down only a filter `{_id: <string>}` and scans the table for
any other (service/adapters/mongo_store.py). A list is therefore a run of documents
`<name>#1`, `<name>#2`, ...: an append claims the next positions by unique inserts (a rival
that took one first makes the entry move up), a read follows the positions by `_id` until
one is missing. Positions are dense, because a writer starts where the list ends (found by
doubling, then halving: O(log n) reads once per list) and moves up only past positions it
saw taken. A read also probes a few positions past the first missing one, so an entry
behind a gap (a writer that died between two inserts of one command) is not lost.

Entries are hints for their readers (service/adapters/mongo_index.py): each names a packet
that is then loaded and decided, so an entry read twice costs a decision that changes
nothing, never a wrong one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from service.adapters.mongo_docs import DUPLICATE_KEY

Doc = dict[str, Any]
PROBE_AHEAD = 3  # positions read together: the next one and two past it
ROUNDS = 20  # appends moved up this often in one call give up (a transient store error)
CACHED_LISTS = 2_000


class ListsContended(Exception):
    """An append kept finding its positions taken: the caller retries the batch."""


def position_id(name: str, k: int) -> str:
    return f"{name}#{k}"


class DenseLists:
    def __init__(self, coll: AsyncCollection[Doc]) -> None:
        self.coll = coll
        self.ends: OrderedDict[str, int] = OrderedDict()  # next free position, per list
        self.read_upto: OrderedDict[str, list[Doc]] = OrderedDict()  # dense prefix read

    async def append(self, items: Sequence[tuple[str, Doc]]) -> None:
        """Each (list name, entry) at the end of its list, in one insert command a round."""
        pending = list(items)
        for _ in range(ROUNDS):
            if not pending:
                return
            docs = []
            for name, body in pending:
                k = await self._end(name)
                self._remember_end(name, k + 1)
                docs.append({**body, "_id": position_id(name, k), "list": name, "k": k})
            taken = await self._insert(docs)
            pending = [pending[i] for i in taken]
        raise ListsContended(f"{len(pending)} list entries found their positions taken")

    async def _insert(self, docs: list[Doc]) -> list[int]:
        """Indexes of the documents whose position a rival held."""
        try:
            await self.coll.insert_many(docs, ordered=False)
        except BulkWriteError as err:
            errors = err.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return sorted(int(e["index"]) for e in errors)
        return []

    async def _end(self, name: str) -> int:
        known = self.ends.get(name)
        if known is not None:
            return known
        return await self._find_end(name)

    async def _find_end(self, name: str) -> int:
        """The first missing position: double until one is missing, then halve between."""
        low, high = 0, 1  # low: a position known taken (0: none); high: to probe
        while await self._taken(name, high):
            low, high = high, high * 2
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
        """Every entry of the list, oldest first (the dense prefix is kept between reads)."""
        prefix, beyond = await self._read(name)
        return [*prefix, *beyond]

    async def read_new(self, name: str) -> list[Doc]:
        """The entries not returned by an earlier `read_new` of this list in this process
        (an entry behind a gap may come again: it is a hint)."""
        before = len(self.read_upto.get(name, ()))
        prefix, beyond = await self._read(name)
        return [*prefix[before:], *beyond]

    async def _read(self, name: str) -> tuple[list[Doc], list[Doc]]:
        prefix = list(self.read_upto.get(name, ()))
        beyond: list[Doc] = []
        while True:
            start = len(prefix) + 1
            ids = [position_id(name, k) for k in range(start, start + PROBE_AHEAD)]
            docs = await asyncio.gather(*(self.coll.find_one({"_id": i}) for i in ids))
            run = _dense(docs)
            prefix.extend(run)
            if len(run) < PROBE_AHEAD:
                beyond = [d for d in docs[len(run) + 1 :] if d is not None]
                break
        self.read_upto[name] = prefix
        self.read_upto.move_to_end(name)
        while len(self.read_upto) > CACHED_LISTS:
            self.read_upto.popitem(last=False)
        self._remember_end(name, max([len(prefix), *(int(d["k"]) for d in beyond)]) + 1)
        return prefix, beyond


def _dense(docs: Sequence[Doc | None]) -> list[Doc]:
    """The leading run of found documents."""
    run: list[Doc] = []
    for doc in docs:
        if doc is None:
            break
        run.append(doc)
    return run
