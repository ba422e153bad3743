"""In-memory doubles for handler unit tests: a recording publisher and a runtime around them."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from service.adapters.memory_store import MemoryStore
from service.contract.envelope import envelope_of
from service.domain.facts import Fact
from service.gate.context import GateContext
from service.gate.gate import Gate
from service.settings import Settings
from service.telemetry.health import Health
from service.telemetry.metrics import Metrics
from tests.unit.domain.builders import T0, governance


class RecordingPublisher:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.sent: list[tuple[str, str, Mapping[str, Any]]] = []

    async def publish(self, facts: Sequence[Fact]) -> None:
        for fact in facts:
            for out in fact.outbox:
                self.sent.append((out.topic, out.key, envelope_of(out)))
        await self.store.mark_published(facts)

    async def send(self, topic: str, key: str, event: Mapping[str, Any]) -> Any:
        self.sent.append((topic, key, event))
        done: Any = _Done()
        return done

    def ids(self, topic: str) -> list[str]:
        return [e["id"] for t, _, e in self.sent if t == topic]


class _Done:
    def __await__(self) -> Any:
        return iter(())


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def runtime(store: MemoryStore | None = None) -> tuple[GateContext, RecordingPublisher, Clock]:
    store = store or MemoryStore()
    publisher = RecordingPublisher(store)
    metrics = Metrics(CollectorRegistry())
    clock = Clock()
    gov = governance()
    gate = Gate(store, publisher, lambda: gov, clock, metrics, retries=5)
    rt = GateContext(
        Settings(),
        store,
        gate,
        publisher,
        metrics,
        Health(metrics),
        logging.getLogger("test"),
        clock,
    )
    return rt, publisher, clock
