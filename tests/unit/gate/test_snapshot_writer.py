"""Snapshots leave the batch's path: remembered at once, written by the next flush, the
latest log of each packet in one command, kept for the next flush if the store is away."""

from collections.abc import Mapping

import pytest

from service.adapters.memory_store import MemoryStore
from service.adapters.store import Log
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
