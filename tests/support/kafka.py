"""The tests' one way to make Kafka clients, for every tier that talks to a real broker.

Each role has its options here, once: the idempotent producer (acks=all, as the service's
own), the output consumer (group-less, from the earliest offset, metadata refreshed every
second because its topics were just created), the group consumer (committing by hand, as
the service does), and the plain consumer (no group, no commits: for probing offsets or
assigning partitions). `make_*` builds a client for an object that starts and stops it
itself; the context managers of the same names start it and always stop it. Each takes
aiokafka's own keyword options too: `sasl_ssl(...)` gives those of a SASL_SSL principal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError


def sasl_ssl(user: str, password: str, cafile: Path | None) -> dict[str, Any]:
    """Options of a SCRAM-SHA-512 principal over TLS that verifies the broker against
    `cafile` (None: the system's CAs), as the service's own (service/adapters/kafka_security.py)."""
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        "ssl_context": ssl.create_default_context(cafile=str(cafile) if cafile else None),
    }


def make_producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, **options)


def make_consumer(bootstrap: str, *topics: str, **options: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, enable_auto_commit=False, **options
    )


def make_output_consumer(bootstrap: str, *topics: str, **options: Any) -> AIOKafkaConsumer:
    return make_consumer(
        bootstrap,
        *topics,
        auto_offset_reset="earliest",
        group_id=None,
        metadata_max_age_ms=1000,
        **options,
    )


def make_group_consumer(
    bootstrap: str, *topics: str, group: str, **options: Any
) -> AIOKafkaConsumer:
    return make_consumer(
        bootstrap, *topics, group_id=group, auto_offset_reset="earliest", **options
    )


@contextlib.asynccontextmanager
async def producer(bootstrap: str, **options: Any) -> AsyncIterator[AIOKafkaProducer]:
    """`async with producer(bootstrap) as p:` an idempotent producer, started."""
    client = make_producer(bootstrap, **options)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


@contextlib.asynccontextmanager
async def _started(client: AIOKafkaConsumer) -> AsyncIterator[AIOKafkaConsumer]:
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


Consumer = contextlib.AbstractAsyncContextManager[AIOKafkaConsumer]


def consumer(bootstrap: str, *topics: str, **options: Any) -> Consumer:
    """A plain consumer (no group, no commits), started."""
    return _started(make_consumer(bootstrap, *topics, **options))


def output_consumer(bootstrap: str, *topics: str, **options: Any) -> Consumer:
    """A group-less consumer reading `topics` from the earliest offset, started."""
    return _started(make_output_consumer(bootstrap, *topics, **options))


def group_consumer(bootstrap: str, *topics: str, group: str, **options: Any) -> Consumer:
    """A member of `group` committing by hand, from the earliest offset if none, started."""
    return _started(make_group_consumer(bootstrap, *topics, group=group, **options))


@contextlib.asynccontextmanager
async def admin(bootstrap: str, **options: Any) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def check_reachable(bootstrap: str, request_timeout_ms: int, within: float) -> None:
    """Raises unless a metadata request to `bootstrap` succeeds within `within` seconds."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms)
    try:
        await asyncio.wait_for(client.bootstrap(), within)
    finally:
        await client.close()


def partitions_of(client: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of `topics` the consumer's metadata knows, in order."""
    return [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(client.partitions_for_topic(topic) or ())
    ]


async def assign_from_beginning(client: AIOKafkaConsumer, parts: list[TopicPartition]) -> None:
    """Assign `parts` (no group, no subscription) and resolve every position at offset 0
    before anything is produced to them."""
    client.assign(parts)
    await client.seek_to_beginning(*parts)
    for tp in parts:
        await client.position(tp)


async def delete_topics(
    bootstrap: str,
    names: Iterable[str] = (),
    prefix: str | None = None,
    best_effort: bool = False,
) -> None:
    """Delete the existing topics among `names` or starting with `prefix`: a broker with
    thousands of leftover partitions restarts slowly. `best_effort` ignores Kafka errors."""
    wanted = set(names)
    try:
        async with admin(bootstrap) as client:
            doomed = [
                t
                for t in await client.list_topics()
                if t in wanted or (prefix is not None and t.startswith(prefix))
            ]
            if doomed:
                await client.delete_topics(doomed)
    except KafkaError:
        if not best_effort:
            raise
