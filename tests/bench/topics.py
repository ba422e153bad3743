"""Topics made ready before anyone uses them: created, led, and answering offset requests.

A consumer that subscribes while a brand-new topic's partitions have no leader yet can
lose those partitions for good (aiokafka logs NotLeaderForPartitionError and never reads
them); creating the topics first and waiting for every partition avoids that.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from tests.support import kafka


async def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, within: float = 60.0
) -> None:
    names = list(names)
    async with kafka.admin(bootstrap) as admin:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    tps = [TopicPartition(n, p) for n in names for p in range(partitions)]
    deadline = time.monotonic() + within
    async with kafka.consumer(bootstrap) as probe:
        while True:
            try:
                await probe.end_offsets(tps)
                await probe.beginning_offsets(tps)
                return
            except (KafkaError, AssertionError) as exc:  # aiokafka asserts on unknown leaders
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topics not ready in {within}s: {exc!r}") from exc
                await asyncio.sleep(0.3)
