"""Publishing facts' outboxes to Kafka (idempotent producer, acks=all), then marking them.

Marks are coalesced: a batch's entries are deleted by the next `flush_marks` (a loop every
MARK_INTERVAL_SECONDS, and once at shutdown), one delete for many batches, off the batch's
critical path. The relay republishes only entries older than its grace
(service/entrypoints/loops.py: PUBLISH_GRACE), well above the interval, so an entry waiting
for its mark is never sent twice; after a crash it is, byte for byte (at-least-once).

A release manifest is attested here, as it leaves (service/adapters/attestation.py): the fact
log keeps the manifest without its attestation, and a re-publication (the relay's, after a
crash) signs the same bytes again, so it is the same event byte for byte."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from service.adapters.attestation import Attestor
from service.adapters.store import FactStore
from service.contract.envelope import envelope_of
from service.domain.facts import Fact
from service.settings import Settings

HEADERS = {"content-type": "application/cloudevents+json; charset=utf-8"}
MARK_INTERVAL_SECONDS = 0.25


def encode(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


class KafkaOutbox:
    def __init__(
        self, broker: KafkaBroker, store: FactStore, settings: Settings, attestor: Attestor
    ) -> None:
        self.broker = broker
        self.store = store
        self.settings = settings
        self.attestor = attestor
        self.marks: list[Fact] = []  # facts published, their outbox entries not yet deleted

    async def send(self, topic: str, key: str, event: Mapping[str, Any]) -> asyncio.Future[Any]:
        """Queue one event on the producer; the future resolves when the broker has it."""
        future: asyncio.Future[Any] = await self.broker.publish(
            encode(event),
            topic=self.settings.topic(topic),
            key=key.encode(),
            headers=HEADERS,
            no_confirm=True,
        )
        return future

    async def publish(self, facts: Sequence[Fact]) -> None:
        waiting = [f for f in facts if f.outbox]
        if not waiting:
            return
        futures = [
            await self.send(o.topic, o.key, self.attestor.event(envelope_of(o)))
            for f in waiting
            for o in f.outbox
        ]
        await asyncio.gather(*futures)
        self.marks.extend(waiting)

    async def flush_marks(self) -> None:
        """Delete the entries of every fact published since the last flush, in one command."""
        if not self.marks:
            return
        marked, self.marks = self.marks, []
        try:
            await self.store.mark_published(marked)
        except BaseException:
            self.marks[:0] = marked  # tried again at the next flush
            raise
