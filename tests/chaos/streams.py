"""Kafka for the chaos harness: produce the workload in paced rounds (recording every input),
read every output from offset 0, and tell when a group has consumed everything."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from service.app import create_topics
from service.settings import INPUT_TOPICS, OUTPUT_TOPICS, Settings
from tests.chaos.checker import Input, Output
from tests.chaos.workload import Workload

OUTAGE_ERRORS = (KafkaError, OSError, asyncio.TimeoutError)


async def ensure_topics(bootstrap: str, prefix: str) -> None:
    """Create the run's topics up front, so the reader can assign them before the service."""
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix)
    await create_topics(settings)


class Producer:
    """Sends the workload round by round; every message that was acknowledged is recorded."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, request_timeout_ms=10_000
        )
        self.sent: list[Input] = []
        self.round = -1
        self._progress = asyncio.Condition()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def play(self, workload: Workload, pace: float) -> None:
        """One round every `pace` seconds; a round late after an outage is sent at once."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        steps = iter(workload.steps)
        step = next(steps, None)
        for number in range(workload.rounds):
            await asyncio.sleep(max(0.0, start + number * pace - loop.time()))  # the pace
            while step is not None and step.round == number:
                await self._send(step.topic, step.key, step.build())
                step = next(steps, None)
            async with self._progress:
                self.round = number
                self._progress.notify_all()

    async def reached(self, number: int) -> None:
        """Wait until round `number` has been sent (fault tests strike at a point in it)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.round >= number)

    async def _send(self, topic: str, key: str, item: Input) -> None:
        while True:  # a broker outage holds the stream up; the service never sees a gap
            try:
                await self.producer.send_and_wait(self.prefix + topic, item.raw, key=key.encode())
            except OUTAGE_ERRORS:
                await asyncio.sleep(0.5)  # back off while the broker is away
                continue
            self.sent.append(item)
            return


class Reader:
    """Reads the five output topics of one prefix from offset 0, into `outputs`."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.consumer = AIOKafkaConsumer(
            *(prefix + t for t in OUTPUT_TOPICS),
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            metadata_max_age_ms=1000,
        )
        self.outputs: list[Output] = []
        self.parts: list[TopicPartition] = []
        self.changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._collect())
        wanted = {self.prefix + t for t in OUTPUT_TOPICS}
        while {tp.topic for tp in self.consumer.assignment()} != wanted:
            await asyncio.sleep(0.1)  # topics were just created: metadata catches up
        self.parts = sorted(self.consumer.assignment())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()

    async def _collect(self) -> None:
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=500)
            except OUTAGE_ERRORS:
                await asyncio.sleep(0.5)  # the broker is away; the consumer reconnects
                continue
            async with self.changed:
                for tp, records in batch.items():
                    topic = tp.topic.removeprefix(self.prefix)
                    self.outputs.extend(
                        Output(topic, bytes(r.value or b""), r.partition, r.offset) for r in records
                    )
                self.changed.notify_all()

    async def wait_change(self, timeout: float) -> None:
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout)

    async def drain(self, within: float = 60) -> None:
        """Read up to the end offsets as they are now: everything published so far."""
        ends = await self.consumer.end_offsets(self.parts)

        def caught_up() -> bool:
            got: dict[tuple[str, int], int] = {}
            for out in self.outputs:
                key = (self.prefix + out.topic, out.partition)
                got[key] = max(got.get(key, -1), out.offset)
            return all(got.get((tp.topic, tp.partition), -1) + 1 >= n for tp, n in ends.items())

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(caught_up), within)


async def consumed_everything(bootstrap: str, prefix: str, group: str) -> bool:
    """True when `group` has committed the end offset of every input partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        await probe.topics()
        tps = list(_partitions(probe, (prefix + t for t in INPUT_TOPICS)))
        ends = await probe.end_offsets(tps)
        return all(
            (meta := committed.get(tp)) is not None and meta.offset >= end
            for tp, end in ends.items()
            if end > 0
        )
    finally:
        await probe.stop()
        await admin.close()


def _partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> Iterable[TopicPartition]:
    for topic in topics:
        for p in sorted(consumer.partitions_for_topic(topic) or ()):
            yield TopicPartition(topic, p)
