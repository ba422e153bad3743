"""How many revisions are in each state, kept as the gate writes instead of counted by a scan.

Each batch that moves revisions lists its moves (`moves:<minute>`, {state: +n / -n}) beside
its other list entries (service/adapters/mongo_index.py). A minute is settled once every
writer's moves for it are in (SETTLE minutes later); its totals are the previous minute's
plus its moves, stored once as `counts@<minute>` by whichever instance gets there first (all
would compute the same, so the insert that loses changes nothing). The gauge is the last
settled totals plus the moves of the minutes since. `counts-latest` says where to start.

A store without totals starts from the projections, counted once. A crash between a batch's
facts and its list entries loses its moves: `python -m service rebuild-projections`, run while
the service is stopped, recomputes the totals from the log (docs/operations.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from service.adapters.mongo_docs import insert_new, upserting
from service.adapters.mongo_lists import DenseLists

Doc = dict[str, Any]
SETTLE = 2  # minutes after which no writer adds moves to a minute
LATEST_ID = "counts-latest"


def totals_id(m: int) -> str:
    return f"counts@{m}"


class Counts:
    def __init__(self, lists: DenseLists, revisions: AsyncCollection[Doc]) -> None:
        self.lists = lists
        self.coll = lists.coll
        self.revisions = revisions
        self.base: tuple[int, dict[str, int]] | None = None  # last settled minute, totals

    async def start(self, now_minute: int) -> None:
        """At start-up: where the totals stand (counted from projections once per store)."""
        await self._settle_to(now_minute - SETTLE)

    async def current(self, now_minute: int) -> dict[str, int]:
        settled = now_minute - SETTLE
        m, totals = await self._settle_to(settled)
        live = Counter(totals)
        for recent in range(m + 1, now_minute + 1):
            live.update(await self._moves(recent))
        return {state: n for state, n in sorted(live.items()) if n > 0}

    async def _settle_to(self, settled: int) -> tuple[int, dict[str, int]]:
        m, totals = self.base or await self._start(settled)
        while m < settled:
            m += 1
            stored = await self.coll.find_one({"_id": totals_id(m)})
            if stored is not None:
                totals = dict(stored["counts"])
                continue
            moved = await self._moves(m)
            if moved:  # a minute without moves needs no document: the next reader adds nothing
                totals = await self._store_totals(m, _add(totals, moved))
        await self._point_at(m, totals)
        self.base = (m, totals)
        return m, totals

    async def _moves(self, m: int) -> Counter[str]:
        moved: Counter[str] = Counter()
        for entry in await self.lists.read(f"moves:{m}"):
            moved.update({str(k): int(v) for k, v in entry["moves"].items()})
        return moved

    async def _start(self, settled: int) -> tuple[int, dict[str, int]]:
        latest = await self.coll.find_one({"_id": LATEST_ID})
        if latest is not None:
            return int(latest["minute"]), dict(latest["counts"])
        counted = await self._count_projections()  # once per store (see the module doc)
        return settled, await self._store_totals(settled, counted)

    async def _store_totals(self, m: int, totals: dict[str, int]) -> dict[str, int]:
        """Store a minute's totals unless an instance did first; the stored ones win."""
        await insert_new(self.coll, [{"_id": totals_id(m), "minute": m, "counts": totals}])
        stored = await self.coll.find_one({"_id": totals_id(m)})
        return totals if stored is None else dict(stored["counts"])

    async def _count_projections(self) -> dict[str, int]:
        pipeline: list[Doc] = [{"$group": {"_id": "$state", "n": {"$sum": 1}}}]
        cursor = await self.revisions.aggregate(pipeline)
        return {str(d["_id"]): int(d["n"]) async for d in cursor if d["_id"]}

    async def _point_at(self, m: int, totals: Mapping[str, int]) -> None:
        if self.base is not None and self.base[0] == m:
            return
        doc = {"_id": LATEST_ID, "minute": m, "counts": dict(totals), "at": datetime.now(UTC)}
        await upserting(lambda: self.coll.replace_one({"_id": LATEST_ID}, doc, upsert=True))

    async def rebuild(self, counted: Mapping[str, int], now_minute: int) -> None:
        """Totals from a count of the log (`rebuild-projections`): stored as the settled minute's,
        less the moves listed since, which the count already holds."""
        settled = now_minute - SETTLE
        since: Counter[str] = Counter()
        for m in range(settled + 1, now_minute + 1):
            since.update(await self._moves(m))
        totals = _add(dict(counted), {k: -v for k, v in since.items()})
        doc = {"_id": totals_id(settled), "minute": settled, "counts": totals}
        await upserting(lambda: self.coll.replace_one({"_id": doc["_id"]}, doc, upsert=True))
        self.base = None
        await self._point_at(settled, totals)
        self.base = (settled, totals)


def _add(totals: Mapping[str, int], moved: Mapping[str, int]) -> dict[str, int]:
    merged = Counter(totals)
    for state, n in moved.items():
        merged[state] += n
    return {state: n for state, n in sorted(merged.items()) if n}
