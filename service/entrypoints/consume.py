"""The one consume path every input topic shares: decode, handle, dead-letter, retry, ack.

Bad input is dead-lettered with its reason and the batch goes on. An outage of the store
or the broker is not bad input: the record is retried with backoff until it succeeds, and
offsets are committed only after every record of the batch is durable.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import ConsumerRecord

from service.adapters.errors import dependency_of, is_transient
from service.contract.decode import Inbound, decode
from service.contract.envelope import envelope_of
from service.contract.errors import BadInput
from service.domain import events
from service.domain.commands import Origin
from service.domain.decide import Decision
from service.domain.facts import Outgoing
from service.domain.times import format_time
from service.gate.context import GateContext
from service.handlers import TopicHandler
from service.telemetry.metrics import logical_topic

T = TypeVar("T")
BUG_ATTEMPTS = 3


class ProcessingFailed(Exception):
    """A record kept raising something that is not an outage: dead-letter it, go on."""


async def retrying(rt: GateContext, work: Callable[[], Awaitable[T]], what: str) -> T:
    delay, failures = 0.05, 0
    while True:
        try:
            result = await work()
        except Exception as exc:
            if not is_transient(exc):
                failures += 1
                rt.log.exception("processing failed", extra={"what": what, "attempt": failures})
                if failures >= BUG_ATTEMPTS:
                    raise ProcessingFailed(f"{type(exc).__name__}: {exc}") from exc
                continue
            dependency = dependency_of(exc)
            rt.metrics.infra_retries.labels(dependency=dependency).inc()
            rt.health.fail(dependency, exc)
            rt.log.warning("retrying after an outage", extra={"what": what, "error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, rt.settings.retry_backoff_max_seconds)
            continue
        rt.health.recover()
        return result


def origin_of(rt: GateContext, record: ConsumerRecord) -> Origin:
    """Where a record came from, with its bytes: what a dead letter of it carries."""
    # The record's own timestamp, not the clock: a dead letter re-emitted after a
    # redelivery must be the same event, byte for byte, under the same id.
    stamp = getattr(record, "timestamp", None)
    received = datetime.fromtimestamp(stamp / 1000, UTC) if stamp and stamp > 0 else rt.clock()
    key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else None
    value = record.value if isinstance(record.value, bytes) else b""
    return Origin(
        topic=logical_topic(record.topic, rt.settings.topic_prefix),
        partition=record.partition,
        offset=record.offset,
        key=key,
        received_at=format_time(received),
        raw_value=base64.b64encode(value).decode(),
    )


async def dead_letter(rt: GateContext, record: ConsumerRecord, kind: str, detail: str) -> None:
    origin = origin_of(rt, record)
    letter = events.dead_letter(origin, kind, detail)

    async def send(out: Outgoing) -> None:
        await (await rt.sender.send("dead-letter", out.key, envelope_of(out)))

    try:
        await retrying(rt, lambda: send(letter), f"dead-letter {letter.id}")
    except ProcessingFailed as failed:
        # The dead letter itself cannot be written (too large for the topic): say so in
        # it, point at the record, which stays readable in its source topic, and go on.
        size = len(base64.b64decode(origin.raw_value))
        note = (
            f"{detail[:500]} [raw value of {size} bytes not copied ({failed}); read it"
            f" at {letter.subject}]"
        )
        bare = events.dead_letter(replace(origin, raw_value=""), kind, note)
        await retrying(rt, lambda: send(bare), f"dead-letter {letter.id} without its raw value")
    rt.metrics.dead_letters.labels(source_topic=origin.topic, error_kind=kind).inc()
    if kind in ("hash-mismatch", "revision-conflict"):
        rt.metrics.block("intake", kind)
    rt.log.warning(
        "dead-lettered",
        extra={
            "topic": origin.topic,
            "event_id": letter.id,
            "outcome": "dead-lettered",
            "error_kind": kind,
            "detail": detail[:500],
        },
    )


Received = tuple[ConsumerRecord, Inbound[Any]]


async def handle_one(rt: GateContext, handler: TopicHandler, received: Received) -> Decision:
    if handler.fan_out is not None:
        return await handler.fan_out(received[1], rt)
    return (await handle_batch(rt, handler, [received]))[0]


async def handle_batch(
    rt: GateContext, handler: TopicHandler, batch: Sequence[Received]
) -> list[Decision]:
    assert handler.to_command is not None
    inbounds = [inbound for _, inbound in batch]
    keys = sorted({k for i in inbounds for k in handler.cites(i)}) if handler.cites else []
    evidence = await rt.store.evidence_versions(keys) if keys else {}
    to_command = handler.to_command
    commands = [to_command(i, evidence, origin_of(rt, r)) for r, i in batch]
    decisions = await rt.gate.decide_batch(commands)
    if keys:
        # An evidence change recorded while these revisions were being stored may have
        # missed their projections: look again now that they are visible, and converge.
        now = await rt.store.evidence_versions(keys)
        for record, inbound in batch:
            assert handler.cites is not None
            if any(now.get(k) != evidence.get(k) for k in handler.cites(inbound)):
                await rt.gate.decide_one(*to_command(inbound, now, origin_of(rt, record)))
    return decisions


async def settle(
    rt: GateContext, topic: str, record: ConsumerRecord, inbound: Inbound[Any], decision: Decision
) -> str:
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


async def one_by_one(
    rt: GateContext, topic: str, handler: TopicHandler, decoded: list[tuple[ConsumerRecord, Any]]
) -> list[str]:
    outcomes = []
    for record, inbound in decoded:
        what = f"{topic} {inbound.event.id}"
        try:
            one = functools.partial(handle_one, rt, handler, (record, inbound))
            decision = await retrying(rt, one, what)
        except ProcessingFailed as failed:
            await dead_letter(rt, record, "processing-error", str(failed))
            outcomes.append("dead-lettered")
            continue
        outcomes.append(await settle(rt, topic, record, inbound, decision))
    return outcomes


async def process_partition(
    rt: GateContext, topic: str, handler: TopicHandler, records: Sequence[ConsumerRecord]
) -> list[str]:
    """Records of one partition, in order: decoded, decided as one batch, settled."""
    outcomes: list[str] = []
    decoded: list[tuple[ConsumerRecord, Any]] = []
    for record in records:
        value = record.value if isinstance(record.value, bytes | None) else bytes(record.value)
        try:
            decoded.append((record, decode(value, topic, rt.settings.max_message_bytes)))
        except BadInput as bad:
            await dead_letter(rt, record, bad.kind, bad.detail)
            outcomes.append("dead-lettered")
    if not decoded:
        return outcomes
    if handler.to_command is None:
        return outcomes + await one_by_one(rt, topic, handler, decoded)
    what = f"{topic} batch of {len(decoded)} from offset {decoded[0][0].offset}"
    try:
        decisions = await retrying(rt, lambda: handle_batch(rt, handler, decoded), what)
    except ProcessingFailed:
        # Something in the batch is broken in a way that is not an outage: find it.
        return outcomes + await one_by_one(rt, topic, handler, decoded)
    for (record, inbound), decision in zip(decoded, decisions, strict=True):
        outcomes.append(await settle(rt, topic, record, inbound, decision))
    return outcomes


async def process_batch(
    rt: GateContext, topic: str, handler: TopicHandler, records: Sequence[ConsumerRecord]
) -> None:
    """Partitions run side by side; records of one partition strictly in order."""
    partitions: dict[int, list[ConsumerRecord]] = {}
    for record in records:
        partitions.setdefault(record.partition, []).append(record)

    async def run(batch: list[ConsumerRecord]) -> None:
        started = time.perf_counter()
        outcomes = await process_partition(rt, topic, handler, batch)
        share = (time.perf_counter() - started) / max(len(outcomes), 1)
        for outcome in outcomes:  # each record is charged its share of the batch
            rt.metrics.handler_seconds.labels(topic=topic, outcome=outcome).observe(share)

    await asyncio.gather(*(run(batch) for batch in partitions.values()))
