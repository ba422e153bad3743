"""Audit checkpoints of the facts this instance appends (docs/security.md, "Audit
checkpoints").

Every fact the gate publishes after appending it, and every fact the relay republishes,
is noted as a leaf (fact id, fact hash). `flush` (every CHECKPOINT_INTERVAL_SECONDS, and
once at shutdown) turns the pending leaves into checkpoints 1, 2, ... of this process's
chain (service/domain/checkpoint.py), signs each with the gate's key and publishes it on
`audit-checkpoint`. A checkpoint is made once: if publishing it fails, the same one (same
number, time and leaves) is sent again at the next flush, so no two differ under one id.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from service.contract.envelope import make_event
from service.domain.checkpoint import (
    MAX_LEAVES,
    Checkpoint,
    make_checkpoint,
    payload_digest,
)
from service.domain.facts import Fact
from service.domain.merkle import Leaf
from service.domain.times import format_time
from service.gate.gate import Publisher
from service.telemetry.metrics import Metrics

TOPIC = "audit-checkpoint"
Sign = Callable[[bytes], dict[str, Any]]  # payload bytes -> DSSE envelope (JSON-ready)


class Sender(Protocol):
    async def send(self, topic: str, key: str, event: Mapping[str, Any]) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class Prepared:
    """A checkpoint made and signed, not yet known to be on the topic."""

    checkpoint: Checkpoint
    time: datetime
    envelope: dict[str, Any]
    leaves: tuple[Leaf, ...]

    @property
    def event_id(self) -> str:
        return f"checkpoint:{self.checkpoint.chain}:{self.checkpoint.number}"

    def event(self) -> dict[str, Any]:
        data = {"checkpoint": self.envelope, "leaves": [list(leaf) for leaf in self.leaves]}
        return make_event(TOPIC, self.event_id, self.checkpoint.chain, self.time, data)


class Checkpointer:
    def __init__(
        self,
        sender: Sender,
        sign: Sign,
        clock: Callable[[], datetime],
        metrics: Metrics,
        log: logging.Logger,
        cap: int = MAX_LEAVES,
        chain: str | None = None,
    ) -> None:
        self.sender, self.sign, self.clock = sender, sign, clock
        self.metrics, self.log, self.cap = metrics, log, cap
        self.chain = chain or secrets.token_hex(16)  # one chain per process start
        self.number = 0  # of the last checkpoint published
        self.previous: str | None = None  # digest of its payload
        self.latest: dict[str, Any] | None = None  # its DSSE envelope (GET /audit/checkpoint)
        self._pending: list[Leaf] = []
        self._queued: set[str] = set()  # ids pending or prepared: a republished fact once
        self._prepared: Prepared | None = None

    @property
    def waiting(self) -> int:
        """Leaves noted that no published checkpoint covers yet."""
        return len(self._pending) + (len(self._prepared.leaves) if self._prepared else 0)

    def note(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            if fact.id not in self._queued:
                self._queued.add(fact.id)
                self._pending.append((fact.id, fact.hash))
        self.metrics.checkpoint_pending.set(self.waiting)

    async def flush(self) -> None:
        """Publish checkpoints until no leaf waits or one fails."""
        while self._prepared is not None or self._pending:
            prepared = self._prepared = self._prepared or self._prepare()
            try:
                await (await self.sender.send(TOPIC, self.chain, prepared.event()))
            except Exception as exc:  # kept: the same checkpoint goes again next time
                self.metrics.checkpoints.labels(outcome="failed").inc()
                self.log.warning(
                    "audit checkpoint not published; retrying at the next interval",
                    extra={"checkpoint": prepared.event_id, "error": repr(exc)},
                )
                break
            self._published(prepared)
        self.metrics.checkpoint_pending.set(self.waiting)

    def _prepare(self) -> Prepared:
        leaves = tuple(self._pending[: self.cap])
        del self._pending[: self.cap]
        now = self.clock()
        checkpoint = make_checkpoint(
            self.chain, self.number + 1, self.previous, format_time(now), leaves
        )
        return Prepared(checkpoint, now, self.sign(checkpoint.payload()), leaves)

    def _published(self, prepared: Prepared) -> None:
        self.number = prepared.checkpoint.number
        self.previous = payload_digest(prepared.checkpoint.payload())
        self.latest = prepared.envelope
        self._queued.difference_update(fact_id for fact_id, _ in prepared.leaves)
        self._prepared = None
        self.metrics.checkpoints.labels(outcome="published").inc()


class AnchoringPublisher:
    """The gate's and the relay's publisher: notes every fact it is given as a leaf, then
    publishes it. Noted first: a fact is in the store before anyone publishes it, and a
    fact without events to send is anchored too."""

    def __init__(self, inner: Publisher, checkpointer: Checkpointer) -> None:
        self.inner, self.checkpointer = inner, checkpointer

    async def publish(self, facts: Sequence[Fact]) -> None:
        self.checkpointer.note(facts)
        await self.inner.publish(facts)
