"""The topics the service creates and checks: partitions, replication, sizes, per prefix."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from service.adapters.kafka_security import client_options
from service.settings import INPUT_TOPICS, OUTPUT_TOPICS, Settings

BROKER_DEFAULT_MESSAGE_BYTES = 1_048_588  # Kafka's message.max.bytes default


def dead_letter_bytes(settings: Settings) -> int:
    """Room for the largest dead letter: anything an input topic accepts (even input over
    our own limit, which is dead-lettered too-large), base64-encoded, plus its envelope."""
    largest = max(settings.max_message_bytes, BROKER_DEFAULT_MESSAGE_BYTES)
    return largest * 4 // 3 + 64 * 1024


async def create_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [settings.topic(t) for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
        # A dead letter carries its input base64-encoded (4/3 the size) plus the envelope.
        big = {"max.message.bytes": str(dead_letter_bytes(settings))}
        # A write is acknowledged once min.insync.replicas have it (acks=all): with 3 and 2,
        # one broker may be down without losing an acknowledged record or stopping writes.
        insync = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
        new = [
            NewTopic(
                t,
                settings.topic_partitions,
                settings.topic_replication_factor,
                topic_configs={**insync, **(big if "dead-letter" in t else {})},
            )
            for t in wanted
            if t not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another instance was first
                answer = await admin.create_topics(new)
                refused = refusals(answer)
                if refused:
                    raise TopicsRefused(f"the cluster refused to create topics: {refused}")
                if refusals(answer, retriable=True):  # a controller moving: try again
                    raise KafkaError(f"topic creation to retry: {refusals(answer, True)}")
    finally:
        await admin.close()


class TopicsRefused(RuntimeError):
    """Topic creation failed for a reason waiting cannot mend (a missing Create ACL, more
    replicas than brokers): start-up stops and says which topic and why."""


ALREADY_EXISTS = 36


def refusals(response: object, retriable: bool = False) -> list[str]:
    """`topic: error` for each topic the CreateTopics response did not create, for errors
    that waiting cannot mend (or, with `retriable`, for those it can)."""
    errors = getattr(response, "topic_errors", None) or []
    found = []
    for entry in errors:
        topic, code = entry[0], int(entry[1])
        if code in (0, ALREADY_EXISTS) or for_code(code).retriable != retriable:
            continue
        message = entry[2] if len(entry) > 2 and entry[2] else for_code(code).__name__
        found.append(f"{topic}: {message}")
    return found


async def topic_shapes(
    settings: Settings, admin: AIOKafkaAdminClient
) -> dict[str, tuple[int, int]]:
    """Logical topic -> (partitions, replication factor) as the cluster has them now."""
    names = [settings.topic(t) for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
    shapes: dict[str, tuple[int, int]] = {}
    for described in await admin.describe_topics(names):
        partitions = described.get("partitions") or []
        if described.get("error_code") or not partitions:
            continue
        replicas = min(len(p.get("replicas") or ()) for p in partitions)
        shapes[str(described["topic"]).removeprefix(settings.topic_prefix)] = (
            len(partitions),
            replicas,
        )
    return shapes
