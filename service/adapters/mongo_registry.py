"""The registry of revision numbers on MongoDB: `<packet_id>#<k>` names the k-th revision
number a packet's log received, claimed by a unique insert before that revision's first fact
(service/adapters/store.py, `Log`; docs/store.md). Slots are dense: slot k+1 is claimed only by
a writer that knew slots 1..k, so two writers that each add a revision the other never saw
collide on one slot, and a load from any snapshot finds every revision by following them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from service.adapters.store import Log

Doc = dict[str, Any]


class Registry:
    def __init__(self, coll: AsyncCollection[Doc]) -> None:
        self.coll = coll

    async def number_at(self, packet_id: str, slot: int | None) -> int | None:
        """The revision number in `slot` (None: no such slot yet, or no slot asked for)."""
        if slot is None:
            return None
        doc = await self.coll.find_one({"_id": f"{packet_id}#{slot}"})
        return None if doc is None else int(doc["revision"])

    async def claim(
        self, wanted: dict[str, list[tuple[int, int]]], logs: dict[str, Log], none_lost: int
    ) -> int:
        """Claim each packet's wanted (fact index, revision number) slots, packets side by
        side, each packet's in order, adding them to its `Log`; the first fact index whose
        claim a rival took, or `none_lost`. A slot claimed for a fact after that index names a
        revision with no facts yet: harmless, the number is known and its seq 1 is probed."""
        lost = await asyncio.gather(
            *(self._claim_in(pid, logs[pid], claims, none_lost) for pid, claims in wanted.items())
        )
        return min(lost, default=none_lost)

    async def _claim_in(
        self, packet_id: str, log: Log, claims: Sequence[tuple[int, int]], none_lost: int
    ) -> int:
        for index, number in claims:
            doc: Doc = {"_id": f"{packet_id}#{len(log.numbers) + 1}", "revision": number}
            doc.update(packet_id=packet_id, claimed=datetime.now(UTC))
            try:
                await self.coll.insert_one(doc)
            except DuplicateKeyError:
                return index
            log.numbers.append(number)
        return none_lost
