"""Snapshots leave the batch's path: remembered at once, written by the next flush, the
latest log of each packet in one command, kept for the next flush if the store is away."""

from collections.abc import Iterable, Mapping

import pytest

from service.adapters.memory_store import MemoryStore
from service.adapters.store import Log, Projection
from service.domain.revision import fold_packet
from service.gate.snapshots import SnapshotWriter
from tests.unit.adapters.test_release_attestation import released_facts


class Recording(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.remembered: list[dict[str, int]] = []
        self.saved: list[dict[str, int]] = []
        self.away = False

    def remember(self, logs: Mapping[str, Log]) -> None:
        self.remembered.append({p: len(log) for p, log in logs.items()})

    async def save_snapshots(self, logs: Mapping[str, Log]) -> None:
        if self.away:
            raise ConnectionError("store away")
        self.saved.append({p: len(log) for p, log in logs.items()})

    async def save_projections(self, rows: Iterable[Projection]) -> None:
        if self.away:
            raise ConnectionError("store away")
        await super().save_projections(rows)


def logs(packet: str, n: int) -> dict[str, Log]:
    return {packet: Log(released_facts()[:n], [1])}


async def test_two_batches_of_one_packet_are_remembered_at_once_and_written_once() -> None:
    store = Recording()
    writer = SnapshotWriter(store)
    writer.note(logs("RP-1", 1))
    writer.note({**logs("RP-1", 3), **logs("RP-2", 2)})
    assert store.remembered == [{"RP-1": 1}, {"RP-1": 3, "RP-2": 2}] and store.saved == []
    await writer.flush()
    assert store.saved == [{"RP-1": 3, "RP-2": 2}]
    await writer.flush()
    assert len(store.saved) == 1, "nothing noted since: no command"


async def test_a_flush_the_store_refused_is_tried_again_with_any_newer_log_winning() -> None:
    store = Recording()
    writer = SnapshotWriter(store)
    writer.note(logs("RP-1", 2))
    store.away = True
    with pytest.raises(ConnectionError):
        await writer.flush()
    writer.note(logs("RP-1", 3))
    store.away = False
    await writer.flush()
    assert store.saved == [{"RP-1": 3}]


async def test_rows_follow_the_snapshots_the_latest_of_each_revision_once() -> None:
    store = MemoryStore()
    writer = SnapshotWriter(store)
    facts = released_facts()
    pending, released = (Projection.of(fold_packet("RP-1", facts[:n])[1]) for n in (1, len(facts)))
    writer.note(logs("RP-1", 1), [pending])
    writer.note(logs("RP-1", len(facts)), [released])
    assert store.projections == {}, "nothing written before the flush"
    await writer.flush()
    assert store.projections == {released.id: released}
    assert writer.rows == {}


async def test_rows_the_store_refused_are_kept_and_a_newer_one_wins() -> None:
    store = Recording()
    writer = SnapshotWriter(store)
    facts = released_facts()
    older, newer = (Projection.of(fold_packet("RP-1", facts[:n])[1]) for n in (1, 2))
    writer.note({}, [older])
    store.away = True
    with pytest.raises(ConnectionError):
        await writer.flush()
    writer.note({}, [newer])
    assert writer.rows == {newer.id: newer}
