"""Publishing facts' outboxes to Kafka (idempotent producer, acks=all), then marking them.

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
        await self.store.mark_published([f.id for f in waiting])
