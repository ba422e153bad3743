"""What the scheduler and the fan-outs look up, kept as `_id`-addressed lists as the gate
writes (service/adapters/mongo_lists.py), so that no periodic or per-message read scans the
projections, however many revisions are stored:

- `due:<minute>`        packets with a revision due in that minute (UTC epoch minutes); a
                        time already past when written goes to the writer's current minute;
- `cites:<kind>:<ref>`  revisions that cite the evidence;
- `lane:<lane_id>`      revisions created in the lane.

A reader filters what it finds: the due times by the time asked for, the citing and lane
revisions by their projection (read by `_id`), so that only live ones are named, as before.
The scheduler reads due minutes from a floor: the oldest minute an instance may still have
to read, kept in memory and persisted (`due-floor`, a lag behind, so a restart reads the
last minutes again: ticks that change nothing). A store made before these lists existed has
no floor: the first read fills the lists from the projections once, then sets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from service.adapters.mongo_docs import find_ids
from service.adapters.mongo_lists import DenseLists, Floor
from service.adapters.store import LIVE_STATES, Projection
from service.domain.times import parse_time

Doc = dict[str, Any]
SLOT = timedelta(minutes=1)
# Minutes read again behind the current one: writers whose clock or write lags a little.
READ_BEHIND = 2
# How far behind the in-memory floor the persisted one stays (what a restart reads again).
PERSIST_BEHIND = 10
FLOOR_ID = "due-floor"


def minute(at: datetime) -> int:
    return int(at.timestamp() // SLOT.total_seconds())


class Index:
    def __init__(self, coll: AsyncCollection[Doc], revisions: AsyncCollection[Doc]) -> None:
        self.coll = coll
        self.lists = DenseLists(coll)
        self.revisions = revisions
        self.floor = Floor(coll, FLOOR_ID, PERSIST_BEHIND)
        self.noted: dict[str, tuple[datetime | None, bool]] = {}  # row id: (due, indexed)
        self.later: list[tuple[datetime, str]] = []  # read from a list, due after it was asked

    async def note(
        self, rows: Iterable[Projection], now: datetime, extra: Iterable[tuple[str, Doc]] = ()
    ) -> None:
        """List what these projections add (a new due time, a new revision's refs and lane)
        and the `extra` entries, in one insert command."""
        items: list[tuple[str, Doc]] = list(extra)
        for row in rows:
            due, indexed = self.noted.get(row.id, (None, False))
            if row.next_due is not None and row.next_due != due:
                at = max(minute(row.next_due), minute(now))
                items.append((f"due:{at}", {"packet": row.packet_id, "due": row.next_due}))
            if not indexed:
                names = [f"cites:{e}" for e in row.evidence]
                names += [f"lane:{row.lane_id}"] if row.lane_id else []
                items += [(n, {"packet": row.packet_id, "row": row.id}) for n in names]
        await self.lists.append(items)
        if len(self.noted) > 50_000:
            self.noted.clear()  # only saves repeated entries, which readers tolerate
        self.noted.update((row.id, (row.next_due, True)) for row in rows)

    async def due_times(self, until: datetime, now: datetime) -> dict[str, datetime]:
        """Packets with an entry due by `until`, read from the floor to the later of `until`
        and now (a past time is listed in its writer's current minute)."""
        floor = await self._floor(now)
        last = max(minute(until), minute(now))
        names = [f"due:{m}" for m in range(floor, last + 1)]
        found = await asyncio.gather(
            *(self.lists.read_new(n) for n in names), return_exceptions=True
        )
        for entries in found:  # what was read is kept, whatever else failed
            if not isinstance(entries, BaseException):
                self.later += [(_aware(e["due"]), str(e["packet"])) for e in entries]
        failed = [e for e in found if isinstance(e, BaseException)]
        if failed:
            raise failed[0]
        await self.floor.advance(minute(now) - READ_BEHIND)
        due: dict[str, datetime] = {}
        for at, packet in self.later:
            if at <= until:
                due[packet] = min(at, due.get(packet, at))
        self.later = [(at, p) for at, p in self.later if at > until]  # read, not yet due
        return due

    async def live_packets(self, name: str) -> list[str]:
        """The packets of the list's revisions that are live now, by their projections; one
        not written yet (they follow off the batch's path) counts as live: the packet is
        then loaded and decided, and a decision on a revision that ended changes nothing."""
        entries = await self.lists.read(name)
        packet_of = {str(e["row"]): str(e["packet"]) for e in entries}
        docs = await find_ids(self.revisions, sorted(packet_of), {"state": 1})
        live = {
            packet
            for row, packet in packet_of.items()
            if (doc := docs.get(row)) is None or doc.get("state") in LIVE_STATES
        }
        return sorted(live)

    async def start(self, now: datetime) -> None:
        """At start-up: the floor, or (once per store) the lists filled from projections."""
        await self._floor(now)

    async def _floor(self, now: datetime) -> int:
        if self.floor.value is None and await self.floor.load() is None:
            await self._fill_from_projections(now)
            await self.floor.advance(minute(now) - READ_BEHIND)
        assert self.floor.value is not None
        return self.floor.value

    async def _fill_from_projections(self, now: datetime) -> None:
        """Once per store: the due times projections held before these lists existed (the
        only scan here; a store written by this version from the start has nothing to add)."""
        query = {"next_due": {"$ne": None}}
        rows = [d async for d in self.revisions.find(query, {"packet_id": 1, "next_due": 1})]
        items = [
            (f"due:{max(minute(_aware(d['next_due'])), minute(now))}", _due_entry(d)) for d in rows
        ]
        await self.lists.append(items)


def _due_entry(doc: Doc) -> Doc:
    return {"packet": doc["packet_id"], "due": _aware(doc["next_due"])}


def _aware(at: datetime | str) -> datetime:
    """Stored times come back aware (clients use tz_aware=True); older ones may be text."""
    if isinstance(at, str):
        return parse_time(at)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
