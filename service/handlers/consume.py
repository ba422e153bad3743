"""The one consume path every input topic shares: decode, handle, dead-letter, retry, ack.

Bad input is dead-lettered with its reason and the batch goes on. An outage of the store
or the broker is not bad input: the record is retried with backoff until it succeeds, and
offsets are committed only after every record of the batch is durable.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiokafka import ConsumerRecord

from service.adapters.errors import TRANSIENT_ERRORS, dependency_of
from service.contract.decode import Inbound, decode
from service.contract.envelope import make_event
from service.contract.errors import BadInput
from service.contract.times import format_time
from service.domain.decide import Decision
from service.metrics import logical_topic
from service.runtime import Runtime

T = TypeVar("T")
Handler = Callable[[Inbound[Any], Runtime], Awaitable[Decision]]
BUG_ATTEMPTS = 3


class ProcessingFailed(Exception):
    """A record kept raising something that is not an outage: dead-letter it, go on."""


async def retrying(rt: Runtime, work: Callable[[], Awaitable[T]], what: str) -> T:
    delay, failures = 0.05, 0
    while True:
        try:
            result = await work()
        except TRANSIENT_ERRORS as exc:
            dependency = dependency_of(exc)
            rt.metrics.infra_retries.labels(dependency=dependency).inc()
            rt.health.fail(dependency, exc)
            rt.log.warning("retrying after an outage", extra={"what": what, "error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, rt.settings.retry_backoff_max_seconds)
            continue
        except Exception as exc:
            failures += 1
            rt.log.exception("processing failed", extra={"what": what, "attempt": failures})
            if failures >= BUG_ATTEMPTS:
                raise ProcessingFailed(f"{type(exc).__name__}: {exc}") from exc
            continue
        rt.health.recover()
        return result


async def dead_letter(rt: Runtime, record: ConsumerRecord, kind: str, detail: str) -> None:
    topic = logical_topic(record.topic, rt.settings.topic_prefix)
    key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else None
    value = record.value if isinstance(record.value, bytes) else b""
    data = {
        "source_topic": topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": key,
        "raw_value": base64.b64encode(value).decode(),
        "error_kind": kind,
        "error_detail": detail,
        "received_at": format_time(rt.clock()),
    }
    event_id = f"dead-letter:{topic}:{record.partition}:{record.offset}"
    event = make_event(
        "dead-letter", event_id, f"{topic}/{record.partition}/{record.offset}", rt.clock(), data
    )

    async def send() -> None:
        await (await rt.sender.send("dead-letter", key or "", event))

    await retrying(rt, send, f"dead-letter {event_id}")
    rt.metrics.dead_letters.labels(source_topic=topic, error_kind=kind).inc()
    if kind in ("hash-mismatch", "revision-conflict"):
        rt.metrics.block("intake", kind)
    rt.log.warning(
        "dead-lettered",
        extra={
            "topic": topic,
            "event_id": event_id,
            "outcome": "dead-lettered",
            "error_kind": kind,
            "detail": detail[:500],
        },
    )


async def process(rt: Runtime, topic: str, handle: Handler, record: ConsumerRecord) -> str:
    value = record.value if isinstance(record.value, bytes | None) else bytes(record.value)
    try:
        inbound = decode(value, topic, rt.settings.max_message_bytes)
    except BadInput as bad:
        await dead_letter(rt, record, bad.kind, bad.detail)
        return "dead-lettered"
    what = f"{topic} {inbound.event.id}"
    try:
        decision = await retrying(rt, lambda: handle(inbound, rt), what)
    except ProcessingFailed as failed:
        await dead_letter(rt, record, "processing-error", str(failed))
        return "dead-lettered"
    if decision.dead_letter:
        await dead_letter(rt, record, *decision.dead_letter)
    rt.log.info(
        "processed",
        extra={
            "topic": topic,
            "event_id": inbound.event.id,
            "packet_id": inbound.event.subject,
            "outcome": decision.outcome,
        },
    )
    return decision.outcome


async def process_batch(
    rt: Runtime, topic: str, handle: Handler, records: Sequence[ConsumerRecord]
) -> None:
    """Partitions run side by side; records of one partition strictly in order."""
    partitions: dict[int, list[ConsumerRecord]] = {}
    for record in records:
        partitions.setdefault(record.partition, []).append(record)

    async def run(batch: list[ConsumerRecord]) -> None:
        for record in batch:
            started = time.perf_counter()
            outcome = await process(rt, topic, handle, record)
            elapsed = time.perf_counter() - started
            rt.metrics.handler_seconds.labels(topic=topic, outcome=outcome).observe(elapsed)

    await asyncio.gather(*(run(batch) for batch in partitions.values()))
