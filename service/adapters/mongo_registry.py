"""The registry of revision numbers on MongoDB: `<packet_id>#<k>` names the k-th revision
number a packet's log received, claimed by a unique insert before that revision's first fact
(service/adapters/store.py, `Log`; docs/store.md). Slots are dense: slot k+1 is claimed only by
a writer that knew slots 1..k, so two writers that each add a revision the other never saw
collide on one slot, and a load from any snapshot finds every revision by following them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from service.adapters.mongo_docs import find_ids, insert_claiming
from service.adapters.store import Log

Doc = dict[str, Any]


class Registry:
    def __init__(self, coll: AsyncCollection[Doc]) -> None:
        self.coll = coll

    async def numbers_at(self, slots: Mapping[str, int]) -> dict[str, int]:
        """The revision number in each packet's asked slot, for the slots claimed (one find)."""
        ids = {f"{packet_id}#{slot}": packet_id for packet_id, slot in slots.items()}
        docs = await find_ids(self.coll, ids)
        return {ids[i]: int(doc["revision"]) for i, doc in docs.items()}

    async def claim(
        self, wanted: dict[str, list[tuple[int, int]]], logs: dict[str, Log], none_lost: int
    ) -> int:
        """Claim each packet's wanted (fact index, revision number) slots, each packet's in
        order, adding them to its `Log`; the first fact index whose claim a rival took, or
        `none_lost`. The packets' next claims go in one unordered insert a round (FerretDB
        writes a command's documents in one transaction: far cheaper than one each). A slot
        claimed for a fact after the lost index names a revision with no facts yet: harmless,
        the number is known and its seq 1 is probed."""
        queues = {pid: list(claims) for pid, claims in wanted.items() if claims}
        lost = none_lost
        while queues:
            round_ = [(pid, claims.pop(0)) for pid, claims in queues.items()]
            docs = [self._slot(pid, logs[pid], number) for pid, (_, number) in round_]
            taken = set(await insert_claiming(self.coll, docs))
            for i, (pid, (index, number)) in enumerate(round_):
                if i in taken:
                    lost = min(lost, index)
                    queues[pid] = []  # a packet's later claims wait for a reload
                else:
                    logs[pid].numbers.append(number)
            queues = {pid: claims for pid, claims in queues.items() if claims}
        return lost

    @staticmethod
    def _slot(packet_id: str, log: Log, number: int) -> Doc:
        doc: Doc = {"_id": f"{packet_id}#{len(log.numbers) + 1}", "revision": number}
        doc.update(packet_id=packet_id, claimed=datetime.now(UTC))
        return doc
