"""One command for one packet: load the log, decide, append, project, publish, count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from service.adapters.store import FactStore, Projection, SeqTaken
from service.domain.commands import Command
from service.domain.decide import Decision, decide
from service.domain.facts import Fact
from service.domain.governance import Governance
from service.domain.revision import fold_packet
from service.metrics import Metrics
from service.observe import observe_facts


class Publisher(Protocol):
    async def publish(self, facts: Sequence[Fact]) -> None: ...


class AppendRaceLost(RuntimeError):
    """Every retry lost the race for the next seq: let the message be redelivered."""


class Gate:
    def __init__(
        self,
        store: FactStore,
        publisher: Publisher,
        governance: Callable[[], Governance],
        clock: Callable[[], datetime],
        metrics: Metrics,
        retries: int = 10,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.governance = governance
        self.clock = clock
        self.metrics = metrics
        self.retries = retries

    async def run(self, packet_id: str, command: Command) -> Decision:
        for _ in range(self.retries):
            facts = await self.store.load_packet(packet_id)
            packet = fold_packet(packet_id, facts)
            decision = decide(packet_id, packet, command, self.clock(), self.governance())
            try:
                await self.store.append(decision.facts)
            except SeqTaken:
                # Another writer took the seq: its facts are now in the log; decide again.
                self.metrics.store_conflicts.inc()
                continue
            after = fold_packet(packet_id, [*facts, *decision.facts])
            if after:
                await self.store.save_projections(Projection.of(r) for r in after.values())
            await self.publisher.publish([f for r in after.values() for f in r.unpublished])
            observe_facts(self.metrics, decision.facts, after)
            return decision
        raise AppendRaceLost(f"{packet_id}: lost {self.retries} append races in a row")
