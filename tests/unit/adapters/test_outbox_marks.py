"""Outbox entries are marked off the batch's path: many batches, one delete, none lost."""

from collections.abc import Sequence

import pytest

from service.adapters.attestation import Attestor
from service.adapters.memory_store import MemoryStore
from service.domain.facts import Fact
from service.settings import Settings
from tests.support.builders import gate_key
from tests.unit.adapters.test_release_attestation import Recorded, released_facts


class CountingStore(MemoryStore):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.deletes: list[list[str]] = []
        self.fail = fail

    async def mark_published(self, facts: Sequence[Fact]) -> None:
        if self.fail:
            raise ConnectionError("store away")
        self.deletes.append([f.id for f in facts])
        await super().mark_published(facts)


def outbox(store: MemoryStore) -> Recorded:
    made = Recorded(None, store, Settings(), Attestor(gate_key()))  # type: ignore[arg-type]
    made.sent = []
    return made


async def test_two_published_batches_are_marked_by_one_delete_at_the_next_flush() -> None:
    store = CountingStore()
    facts = released_facts()
    await store.append(facts)
    box = outbox(store)
    await box.publish(facts[:1])
    await box.publish(facts[1:])
    assert store.deletes == [] and await store.count_unpublished() == len(facts)
    await box.flush_marks()
    assert store.deletes == [[f.id for f in facts]]
    assert await store.count_unpublished() == 0
    await box.flush_marks()
    assert len(store.deletes) == 1, "nothing left to mark: no command"


async def test_marks_a_failed_flush_could_not_delete_are_kept_for_the_next() -> None:
    store = CountingStore(fail=True)
    facts = released_facts()
    await store.append(facts)
    box = outbox(store)
    await box.publish(facts)
    with pytest.raises(ConnectionError):
        await box.flush_marks()
    store.fail = False
    await box.flush_marks()
    assert store.deletes == [[f.id for f in facts]]
