"""Publishing facts' outboxes to Kafka (idempotent producer, acks=all), then marking them.

The mark (deleting the facts' outbox entries) runs after the broker has every event, off
the consumer's commit path: until it lands, the only risk is the relay sending the same
events again (same ids), which consumers drop."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from service.adapters.store import FactStore
from service.domain.facts import Fact
from service.settings import Settings

HEADERS = {"content-type": "application/cloudevents+json; charset=utf-8"}


def encode(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


class KafkaOutbox:
    def __init__(self, broker: KafkaBroker, store: FactStore, settings: Settings) -> None:
        self.broker = broker
        self.store = store
        self.settings = settings
        self.marking: set[asyncio.Task[None]] = set()
        self.log = logging.getLogger("release_gate")

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
        futures = [await self.send(o.topic, o.key, o.event) for f in waiting for o in f.outbox]
        await asyncio.gather(*futures)
        task = asyncio.create_task(self._mark([f.id for f in waiting]))
        self.marking.add(task)
        task.add_done_callback(self.marking.discard)

    async def _mark(self, fact_ids: Sequence[str]) -> None:
        try:
            await self.store.mark_published(fact_ids)
        except Exception as exc:  # the relay publishes them again, under the same ids
            self.log.warning("outbox entries not dropped", extra={"error": repr(exc)})

    async def drain(self) -> None:
        """Wait for the marks still running (at shutdown, before the store client closes)."""
        await asyncio.gather(*self.marking, return_exceptions=True)
