"""Kafka for the chaos harness: produce the workload in paced rounds (recording every input),
read every output from offset 0, and tell when a group has consumed everything."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from service.adapters.kafka_topics import create_topics
from service.settings import INPUT_TOPICS, OUTPUT_TOPICS, Settings
from tests.chaos.checker import Input, Output
from tests.chaos.workload import Step
from tests.support import kafka

OUTAGE_ERRORS = (KafkaError, OSError, asyncio.TimeoutError)


async def ensure_topics(bootstrap: str, prefix: str) -> None:
    """Create the run's topics up front, so the reader can assign them before the service."""
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix)
    await create_topics(settings)


class Producer:
    """Sends the workload round by round; every message that was acknowledged is recorded."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.producer = kafka.make_producer(bootstrap, request_timeout_ms=10_000)
        self.sent: list[Input] = []
        self.round = -1
        self._progress = asyncio.Condition()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def play(
        self,
        steps: list[Step],
        pace: float,
        seen: Callable[[tuple[str, int]], Awaitable[None]] | None = None,
    ) -> None:
        """One round every `pace` seconds; a step with `after` waits (aside) for `seen`."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        rounds = 1 + max((s.round for s in steps), default=-1)
        ordered = iter(sorted(steps, key=lambda s: s.round))
        step = next(ordered, None)
        waiting: list[asyncio.Task[None]] = []
        for number in range(rounds):
            await asyncio.sleep(max(0.0, due - loop.time()))  # the pace
            # After a stall (an outage held a send up) the pace resumes from now, so the
            # rounds held back are not fired in one burst with their lags squeezed out.
            due = max(due, loop.time()) + pace
            while step is not None and step.round == number:
                if step.after is not None and seen is not None:
                    waiting.append(asyncio.create_task(self._after(step, seen)))
                else:
                    await self._send(step.topic, step.key, step.build())
                step = next(ordered, None)
            async with self._progress:
                self.round = number
                self._progress.notify_all()
        await asyncio.gather(*waiting)

    async def _after(self, step: Step, seen: Callable[[tuple[str, int]], Awaitable[None]]) -> None:
        assert step.after is not None
        with contextlib.suppress(TimeoutError):  # never created: the checker will say so
            await asyncio.wait_for(seen(step.after), 90)
        await self._send(step.topic, step.key, step.build())

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
        self.consumer = kafka.make_output_consumer(bootstrap, *(prefix + t for t in OUTPUT_TOPICS))
        self.outputs: list[Output] = []
        self.created: set[tuple[str, int]] = set()  # revisions with a lifecycle from "none"
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
            if not batch:
                continue
            async with self.changed:
                for tp, records in batch.items():
                    topic = tp.topic.removeprefix(self.prefix)
                    for r in records:
                        out = Output(topic, bytes(r.value or b""), r.partition, r.offset)
                        self.outputs.append(out)
                        if topic == "packet-lifecycle":
                            self._note(out.raw)
                self.changed.notify_all()

    def _note(self, raw: bytes) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = json.loads(raw)["data"]
            if data["from_state"] is None and data["to_state"] is not None:
                self.created.add((str(data["packet_id"]), int(data["revision"])))

    async def seen_created(self, revision: tuple[str, int]) -> None:
        """Wait until the revision has been created (in whatever state)."""
        async with self.changed:
            await self.changed.wait_for(lambda: revision in self.created)

    async def wait_change(self, timeout: float) -> None:
        """Until more outputs arrive, or `timeout` passes."""
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout)

    async def wait_more(self, within: float, since: int) -> None:
        """Until there are more than `since` outputs, or `within` passes (pacing a fault: the
        run's report, not this wait, judges the outcome)."""
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: len(self.outputs) > since), within
                )

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
    async with kafka.admin(bootstrap) as admin, kafka.consumer(bootstrap) as probe:
        committed = await admin.list_consumer_group_offsets(group)
        await probe.topics()
        tps = kafka.partitions_of(probe, (prefix + t for t in INPUT_TOPICS))
        ends = await probe.end_offsets(tps)
        return all(
            (meta := committed.get(tp)) is not None and meta.offset >= end
            for tp, end in ends.items()
            if end > 0
        )
