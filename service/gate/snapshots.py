"""Snapshots and projections written off the batch's path: the latest log of each packet a
batch touched is remembered at once (this instance's next loads start from it) and written
to the store by the next `flush` (a loop every FLUSH_SECONDS, and once at shutdown), one
command for every packet touched since, the latest log of each; then the latest projection
row of each revision touched. What must be known at once (due times, fan-outs, counts) goes
on the path (`FactStore.note_written`); a fan-out counts a revision without a row as live.

A snapshot is a hint (docs/design.md, "Projections and snapshots are hints"): a load from
an older one, or from none, probes past its end by `_id` and finds the rest
(service/adapters/mongo_store.py, `_complete`), so a snapshot that comes late, or never (a
crash before the flush), costs probes, never a fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from service.adapters.store import FactStore, Log, Projection

FLUSH_SECONDS = 0.25


class SnapshotWriter:
    def __init__(self, store: FactStore) -> None:
        self.store = store
        self.pending: dict[str, Log] = {}
        self.rows: dict[str, Projection] = {}

    def note(self, logs: Mapping[str, Log], rows: Iterable[Projection] = ()) -> None:
        self.store.remember(logs)
        self.pending.update(logs)
        self.rows.update((row.id, row) for row in rows)

    async def flush(self) -> None:
        await self._flush_snapshots()
        await self._flush_rows()

    async def _flush_snapshots(self) -> None:
        if not self.pending:
            return
        due, self.pending = self.pending, {}
        try:
            await self.store.save_snapshots(due)
        except BaseException:
            # Tried again at the next flush, unless a newer log of the packet came meanwhile.
            self.pending = {**due, **self.pending}
            raise

    async def _flush_rows(self) -> None:
        if not self.rows:
            return
        due, self.rows = self.rows, {}
        try:
            await self.store.save_projections(due.values())
        except BaseException:
            self.rows = {**due, **self.rows}  # a newer row of a revision wins
            raise
