"""Small Kafka helpers for the CLI: publish one event, watch output topics for events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from service.adapters.kafka_security import client_options
from service.adapters.outbox import encode
from service.settings import Settings


async def publish(settings: Settings, topic: str, key: str, event: Mapping[str, Any]) -> None:
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(topic), encode(event), key=key.encode())
    finally:
        await producer.stop()


Event = dict[str, Any]


class Watcher:
    """Reads output topics from their current end; waits for events matching a predicate."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.settings = settings
        self.topics = [settings.topic(t) for t in topics]
        self.consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
        self.seen: list[tuple[str, Event]] = []

    async def start(self) -> None:
        await self.consumer.start()
        admin = AIOKafkaAdminClient(**client_options(self.settings))
        await admin.start()
        try:
            described = await admin.describe_topics(self.topics)
        finally:
            await admin.close()
        parts = [
            TopicPartition(topic["topic"], part["partition"])
            for topic in described
            for part in topic.get("partitions", [])
        ]
        if not parts:
            raise TimeoutError(f"none of {self.topics} exists yet; is the service running?")
        self.consumer.assign(parts)
        await self.consumer.seek_to_end(*parts)
        for tp in parts:  # resolve positions now, so nothing produced later is skipped
            await self.consumer.position(tp)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def wait(self, match: Callable[[str, Event], bool], within: float = 30) -> list[Event]:
        """Every event seen so far that matches, waiting until at least one does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = [e for t, e in self.seen if match(t, e)]
            if found:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no matching output event arrived in time")
            batch = await self.consumer.getmany(timeout_ms=int(min(remaining, 1) * 1000))
            for tp, records in batch.items():
                logical = tp.topic.removeprefix(self.settings.topic_prefix)
                self.seen.extend((logical, json.loads(r.value)) for r in records)


async def partitions_of(settings: Settings, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics([settings.topic(topic)])
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if not t.get("error_code")
        for p in t.get("partitions", [])
    ]


async def read_topic(settings: Settings, topic: str, within: float = 120) -> list[bytes]:
    """Every record value of a topic, from the beginning to the end offsets it had when the
    read began, partition by partition in offset order."""
    parts = await partitions_of(settings, topic)
    if not parts:
        raise TimeoutError(f"{settings.topic(topic)} does not exist; is the service running?")
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        # An explicit seek: seek_to_beginning right after assign() may race the position
        # assign() resolves, and leave the consumer at the end.
        starts = await consumer.beginning_offsets(parts)
        for tp in parts:
            consumer.seek(tp, starts[tp])
        found: dict[TopicPartition, list[bytes]] = {tp: [] for tp in parts}
        async with asyncio.timeout(within):
            while any([await consumer.position(tp) < ends[tp] for tp in parts]):
                batch = await consumer.getmany(*parts, timeout_ms=1000)
                for tp, records in batch.items():
                    found[tp].extend(bytes(r.value) for r in records if r.offset < ends[tp])
    finally:
        await consumer.stop()
    return [value for tp in sorted(parts) for value in found[tp]]
