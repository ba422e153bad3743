"""The subscriber glue, in memory: the real Service's five batch subscribers under
FastStream's TestKafkaBroker, its consume path and outbox, the gate on the in-memory store.

What stands in for the stack, and why (each a difference between the test broker and
aiokafka, not a change to the service):
- AsDelivered hands the batch to the service as the tuple aiokafka delivers (the test
  broker passes a list) and records when the batch is committed;
- BrokerOutbox is the service's KafkaOutbox, whose `send` the test broker answers with no
  future to await (aiokafka returns one for `no_confirm=True`);
- the gate context is built here and set on the service: Service.start() would connect
  to the store and create topics.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaMessage, TestKafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage

from service.adapters.attestation import Attestor
from service.adapters.memory_store import MemoryStore
from service.adapters.outbox import KafkaOutbox
from service.domain.governance import parse_governance
from service.entrypoints.app import Service, raw_bodies
from service.gate.context import GateContext, utc_now
from service.gate.gate import Gate
from service.settings import INPUT_TOPICS, OUTPUT_TOPICS, Settings
from tests.support.builders import encode, envelope, gate_key, governance_yaml, new_id, packet

PREFIX = "wired-"


@dataclass
class Wire:
    """What the test sees of the in-memory broker, in the order it happened."""

    service: Service
    store: MemoryStore
    timeline: list[tuple[str, Any]] = field(default_factory=list)  # (output topic or "commit", …)

    def published(self, topic: str) -> list[tuple[bytes, dict[str, Any]]]:
        """(key, event) of every event published to the (logical) output topic."""
        return [item for name, item in self.timeline if name == topic]

    async def send(self, topic: str, value: bytes, key: str) -> None:
        await self.service.broker.publish(value, topic=PREFIX + topic, key=key.encode())


class _Commits:
    """The consumer a batch is committed on, as the service's `msg.ack()` reaches it."""

    def __init__(self, wire: Wire, topic: str) -> None:
        self.wire, self.topic = wire, topic

    async def commit(self) -> None:
        self.wire.timeline.append(("commit", self.topic))


def as_delivered(wire: Wire) -> type[BaseMiddleware]:
    class AsDelivered(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            if isinstance(msg.raw_message, list):  # a batch subscriber's records
                msg.raw_message = tuple(msg.raw_message)
                topic = msg.raw_message[0].topic.removeprefix(PREFIX)
                msg.consumer = _Commits(wire, topic)  # type: ignore[attr-defined]
            return await call_next(msg)

    return AsDelivered


class BrokerOutbox(KafkaOutbox):
    async def send(self, topic: str, key: str, event: Mapping[str, Any]) -> asyncio.Future[Any]:
        sent = await super().send(topic, key, event)
        if sent is None:  # the test broker delivered it already, and returns no future
            sent = asyncio.get_running_loop().create_future()
            sent.set_result(None)
        return sent


def capture(wire: Wire, topic: str) -> None:
    """A subscriber on the prefixed output topic, appending (key, event) to the timeline."""

    async def seen(body: Any, msg: KafkaMessage) -> None:
        record = msg.raw_message
        assert not isinstance(record, tuple)  # one record: this subscriber is not a batch one
        wire.timeline.append((topic, (record.key, json.loads(body))))

    seen.__name__ = "seen_" + topic.replace("-", "_")
    wire.service.broker.subscriber(PREFIX + topic, decoder=raw_bodies)(seen)


def gate_context(service: Service, store: MemoryStore) -> GateContext:
    """What Service.start() builds, on the in-memory store and the broker's outbox."""
    settings = service.settings
    outbox = BrokerOutbox(service.broker, store, settings, Attestor(gate_key()))
    governance = parse_governance(governance_yaml())
    gate = Gate(
        store,
        outbox,
        lambda: governance,
        utc_now,
        service.metrics,
        settings.conflict_retries,
        service.due,
    )
    return GateContext(
        settings, store, gate, outbox, service.metrics, service.health, logging.getLogger("wired")
    )


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    """The service's broker under TestKafkaBroker, every output topic captured."""
    service = Service(Settings(topic_prefix=PREFIX))
    wired = Wire(service, MemoryStore())
    for topic in OUTPUT_TOPICS:
        capture(wired, topic)
    service.broker.add_middleware(as_delivered(wired))
    service._rt = gate_context(service, wired.store)  # no seam for it: see the docstring
    async with TestKafkaBroker(service.broker):
        yield wired


def test_every_input_topic_has_one_manual_ack_batch_subscriber_under_the_prefix() -> None:
    settings = Settings(topic_prefix=PREFIX)
    subscribers = Service(settings).broker.subscribers
    batches = [s for s in subscribers if isinstance(s, BatchSubscriber)]
    assert len(batches) == len(subscribers)
    topics = sorted(t.name for s in batches for t in s.topics)
    assert topics == sorted(PREFIX + t for t in INPUT_TOPICS)
    for subscriber in batches:
        assert subscriber.group_id == settings.consumer_group
        assert subscriber.ack_policy is AckPolicy.MANUAL


async def test_a_packet_ready_reaches_the_gate_and_its_lifecycle_event_is_published(
    wire: Wire,
) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await wire.send("packet-ready", encode(envelope("packet-ready", pkt)), key=pid)
    [(key, event)] = wire.published("packet-lifecycle")
    assert key == pid.encode()
    assert event["subject"] == pid
    assert (event["data"]["from_state"], event["data"]["to_state"]) == (None, "pending")
    assert await wire.store.state_counts() == {"pending": 1}
    assert await wire.store.count_unpublished() == 1, "published, its entry marked later"
    outbox = wire.service.rt.sender
    assert isinstance(outbox, BrokerOutbox)
    await outbox.flush_marks()
    assert await wire.store.count_unpublished() == 0
    assert wire.published("dead-letter") == []


async def test_the_batch_is_committed_only_once_its_events_are_published(wire: Wire) -> None:
    pkt = packet(new_id("RP"), 1)
    await wire.send("packet-ready", encode(envelope("packet-ready", pkt)), key=pkt["packet_id"])
    assert [name for name, _ in wire.timeline] == ["packet-lifecycle", "commit"]
    assert wire.timeline[-1] == ("commit", "packet-ready")


async def test_an_undecodable_record_is_dead_lettered_and_its_batch_committed(wire: Wire) -> None:
    await wire.send("packet-ready", b"{nope", key="RP-1")
    [(key, event)] = wire.published("dead-letter")
    assert key == b"RP-1"
    assert event["data"]["source_topic"] == "packet-ready"
    assert event["data"]["error_kind"] == "invalid-json"
    assert wire.published("packet-lifecycle") == []
    assert wire.timeline[-1] == ("commit", "packet-ready")
    labels = {"source_topic": "packet-ready", "error_kind": "invalid-json"}
    registry = wire.service.registry
    assert registry.get_sample_value("release_gate_dead_letters_total", labels) == 1.0


async def test_each_input_topic_feeds_the_consume_path_of_that_topic(wire: Wire) -> None:
    for topic in INPUT_TOPICS:
        await wire.send(topic, b"[not, json", key=f"key-{topic}")
    dead = [event["data"] for _, event in wire.published("dead-letter")]
    assert [(d["source_topic"], d["key"]) for d in dead] == [(t, f"key-{t}") for t in INPUT_TOPICS]
    assert [item for name, item in wire.timeline if name == "commit"] == list(INPUT_TOPICS)
