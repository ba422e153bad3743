"""The test's view of Kafka: send input events as users do, and await output events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from service.settings import OUTPUT_TOPICS
from tests.support import kafka
from tests.support.builders import envelope, subject_of

Event = dict[str, Any]


class Bus:
    """`producer_options`/`consumer_options`: aiokafka options of each side, e.g. two SASL_SSL
    principals (tests.support.kafka.sasl_ssl); none: PLAINTEXT."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        producer_options: dict[str, Any] | None = None,
        consumer_options: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap, self.prefix = bootstrap, prefix
        self.producer = kafka.make_producer(bootstrap, **(producer_options or {}))
        self.consumer = kafka.make_output_consumer(
            bootstrap, *(prefix + t for t in OUTPUT_TOPICS), **(consumer_options or {})
        )
        self.seen: list[tuple[str, Event, bytes]] = []
        self.sent: list[tuple[str, Event | bytes]] = []
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Condition()

    async def start(self) -> None:
        await self.producer.start()
        await self.consumer.start()
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()
        await self.producer.stop()

    async def _collect(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=500)
            if not batch:
                continue
            async with self._arrived:
                for tp, records in batch.items():
                    topic = tp.topic.removeprefix(self.prefix)
                    self.seen.extend((topic, json.loads(r.value), r.value) for r in records)
                self._arrived.notify_all()

    async def send(
        self, type_: str, data: dict[str, Any], event_id: str | None = None, key: str | None = None
    ) -> str:
        """Publish one well-formed input event; returns its id."""
        subject = subject_of(type_, data)
        event_id = event_id or f"evt-{type_}-{len(self.sent)}-{id(data)}"
        if key is None:
            key = f"{data['kind']}:{data['ref']}" if type_ == "evidence-changed" else subject
        event = envelope(type_, data, event_id, subject)
        await self.send_raw(type_, json.dumps(event).encode(), key)
        self.sent[-1] = (type_, event)
        return event_id

    async def send_raw(self, topic: str, value: bytes, key: str | None = "raw") -> None:
        await self.producer.send_and_wait(
            self.prefix + topic, value, key=None if key is None else key.encode()
        )
        self.sent.append((topic, value))

    def matching(self, topic: str, pred: Callable[[Event], bool]) -> list[Event]:
        return [e for t, e, _ in self.seen if t == topic and pred(e)]

    async def wait_for(
        self, topic: str, pred: Callable[[Event], bool] | str, within: float = 30.0, count: int = 1
    ) -> list[Event]:
        """Await until `count` events on `topic` match (an id string or a predicate)."""
        match = (lambda e: e["id"] == pred) if isinstance(pred, str) else pred

        def enough() -> bool:
            return len(self.matching(topic, match)) >= count

        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(enough), within)
            except TimeoutError:
                raise AssertionError(
                    f"{count} event(s) on {topic} matching {pred!r} did not arrive in {within}s;"
                    f" seen there: {[e['id'] for e in self.matching(topic, lambda e: True)][-10:]}"
                ) from None
        return self.matching(topic, match)

    async def wait_for_first(
        self, wanted: dict[str, Callable[[Event], bool] | str], within: float = 30.0
    ) -> tuple[str, Event]:
        """Await the first event matching on any of several topics: (topic, event)."""
        matchers = {
            topic: (lambda e, i=pred: e["id"] == i) if isinstance(pred, str) else pred
            for topic, pred in wanted.items()
        }

        def first() -> tuple[str, Event] | None:
            for topic, match in matchers.items():
                found = self.matching(topic, match)
                if found:
                    return topic, found[0]
            return None

        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(lambda: first() is not None), within)
            except TimeoutError:
                raise AssertionError(f"nothing matching {wanted!r} arrived in {within}s") from None
        found = first()
        assert found is not None
        return found

    def lifecycle(self, packet_id: str, revision: int) -> list[tuple[Any, Any, Any]]:
        return [
            (e["data"]["from_state"], e["data"]["to_state"], e["data"]["reason"])
            for e in self.matching(
                "packet-lifecycle",
                lambda e: e["data"]["packet_id"] == packet_id and e["data"]["revision"] == revision,
            )
        ]

    def conflicts(self) -> list[str]:
        """Ids seen on more than one output topic, or with more than one content: a consumer
        of every topic that drops duplicates by id (docs/contract.md) would lose an event."""
        topics: dict[str, set[str]] = {}
        bodies: dict[str, set[str]] = {}
        for topic, event, _ in self.seen:
            topics.setdefault(event["id"], set()).add(topic)
            bodies.setdefault(event["id"], set()).add(json.dumps(event["data"], sort_keys=True))
        return sorted(
            f"{event_id}: on {sorted(topics[event_id])}, {len(bodies[event_id])} contents"
            for event_id in topics
            if len(topics[event_id]) > 1 or len(bodies[event_id]) > 1
        )
