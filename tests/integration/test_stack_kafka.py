"""The local Kafka broker does what the service relies on: idempotent produce, groups, resume."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata, RecordMetadata

from tests.support import kafka

TopicFactory: TypeAlias = Callable[[int], Awaitable[str]]  # the `new_topic` fixture
Record: TypeAlias = ConsumerRecord[bytes, bytes]
WAIT_S = 30.0


async def produce(
    bootstrap: str, topic: str, per_partition: dict[int, int], label: str = "a"
) -> list[RecordMetadata]:
    """Sends `<label>-p<partition>-<i>` with an idempotent producer; awaits all acks at once."""
    async with kafka.producer(bootstrap) as producer:
        futures = [
            await producer.send(topic, value=f"{label}-p{p}-{i}".encode(), key=b"k", partition=p)
            for p, count in per_partition.items()
            for i in range(count)
        ]
        return list(await asyncio.gather(*futures))


async def consume_until(
    consumer: AIOKafkaConsumer, done: Callable[[list[Record]], bool]
) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + WAIT_S
    while not done(records):
        assert time.monotonic() < deadline, f"gave up waiting; got {len(records)} records"
        for batch in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(batch)
    return records


def offsets_by_partition(records: list[Record]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {}
    for record in records:
        result.setdefault(record.partition, []).append(record.offset)
    return result


def through(last_offset: int, partitions: int) -> Callable[[list[Record]], bool]:
    """Done once each of the partitions has delivered `last_offset`."""

    def done(records: list[Record]) -> bool:
        by_partition = offsets_by_partition(records)
        return len(by_partition) == partitions and all(
            last_offset in offsets for offsets in by_partition.values()
        )

    return done


async def test_an_idempotent_producer_writes_each_record_exactly_once(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(3)
    acks = await produce(kafka_bootstrap, topic, {0: 5, 1: 5, 2: 5})
    by_partition: dict[int, list[int]] = {}
    for ack in acks:
        by_partition.setdefault(ack.partition, []).append(ack.offset)
    assert by_partition == {p: [0, 1, 2, 3, 4] for p in range(3)}


async def test_a_new_group_member_resumes_right_after_the_committed_offsets(
    kafka_bootstrap: str, new_topic: TopicFactory, run_id: str
) -> None:
    topic, group = await new_topic(3), f"it-group-{run_id}-resume"
    partitions = [TopicPartition(topic, p) for p in range(3)]
    await produce(kafka_bootstrap, topic, {0: 4, 1: 4, 2: 4})

    async with kafka.group_consumer(kafka_bootstrap, topic, group=group) as first:
        seen = await consume_until(first, through(3, partitions=3))
        assert offsets_by_partition(seen) == {p: [0, 1, 2, 3] for p in range(3)}
        # Commit only the first two records of each partition: 2 and 3 were read, not done.
        await first.commit({tp: OffsetAndMetadata(2, "") for tp in partitions})
        assert [await first.committed(tp) for tp in partitions] == [2, 2, 2]

    await produce(kafka_bootstrap, topic, {0: 2, 1: 2, 2: 2}, label="b")
    async with kafka.group_consumer(kafka_bootstrap, topic, group=group) as second:
        # Records of one partition arrive in order, so a re-read of offset 0 or 1 would come
        # before the awaited offset 5 and show up in the comparison below.
        resumed = await consume_until(second, through(5, partitions=3))
        assert offsets_by_partition(resumed) == {p: [2, 3, 4, 5] for p in range(3)}
        assert [r.value for r in resumed if r.partition == 0] == [
            b"a-p0-2",
            b"a-p0-3",
            b"b-p0-0",
            b"b-p0-1",
        ]


async def test_two_members_of_one_group_split_the_partitions_between_them(
    kafka_bootstrap: str, new_topic: TopicFactory, run_id: str
) -> None:
    topic, group = await new_topic(4), f"it-group-{run_id}-split"
    everything = {TopicPartition(topic, p) for p in range(4)}
    members = [kafka.make_group_consumer(kafka_bootstrap, topic, group=group) for _ in range(2)]
    for member in members:
        await member.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            a, b = (m.assignment() for m in members)
            if a and b and not a & b and a | b == everything:
                break
            assert time.monotonic() < deadline, f"no balanced assignment: {a} / {b}"
            await asyncio.sleep(0.1)  # polls a real condition: the coordinator runs in background
    finally:
        for member in members:
            await member.stop()
