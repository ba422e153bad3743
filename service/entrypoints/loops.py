"""Background loops: the scheduler (time-driven transitions), the outbox relay, governance
reloads and the monitor (lag, states, backlog). Each survives outages and keeps going."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from service.adapters.errors import TRANSIENT_ERRORS, dependency_of, is_transient
from service.adapters.governance_file import GovernanceWatcher, note_published_keys
from service.adapters.kafka_security import client_options
from service.adapters.kafka_topics import topic_shapes
from service.domain.commands import Tick
from service.gate.context import GateContext
from service.gate.due import DueTimes
from service.gate.gate import Publisher
from service.settings import INPUT_TOPICS

STEP_TIMEOUT = 60.0


async def forever(
    rt: GateContext, name: str, interval: float, step: Callable[[], Awaitable[None]]
) -> None:
    while True:
        try:
            # A step that hangs must not stop the loop for good: every step is idempotent.
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the step's result
            # when a cancel arrives just as the step finishes, swallowing the cancel, and the
            # loop then never stops (seen as a hung shutdown: tests/unit/entrypoints).
            async with asyncio.timeout(STEP_TIMEOUT):
                await step()
        except TimeoutError:
            rt.log.warning(f"{name} step timed out after {STEP_TIMEOUT}s; starting over")
        except TRANSIENT_ERRORS as exc:
            dependency = dependency_of(exc)
            rt.metrics.infra_retries.labels(dependency=dependency).inc()
            rt.health.fail(dependency, exc)
            rt.log.warning(f"{name} waits for {dependency}", extra={"error": repr(exc)})
        except asyncio.CancelledError:
            raise
        except Exception:
            rt.log.exception(f"{name} step failed")
        await asyncio.sleep(interval)


LOOP_STOP_SECONDS = 3.0


async def stop_loops(tasks: list[asyncio.Task[None]], log: logging.Logger) -> None:
    """Cancel the loops and wait for them, boundedly: a loop that outlives its cancel (a
    library that swallows one) is cancelled again and then left behind, named in the log,
    so that shutdown goes on to the consumers' grace period whatever a loop does."""
    for attempt in (1, 2):
        for task in tasks:
            task.cancel()
        done, running = await asyncio.wait(tasks, timeout=LOOP_STOP_SECONDS) if tasks else ((), ())
        for task in done:  # retrieved, so that asyncio does not report them at exit
            if not task.cancelled():
                task.exception()
        if not running:
            return
        names = sorted(t.get_name() for t in running)
        log.warning("loops still running after a cancel", extra={"loops": names, "try": attempt})


class Cadence:
    """Runs a step at the first call and then only once `every` has passed since the last
    run that succeeded (a failed one is tried again at the next call)."""

    def __init__(self, every: timedelta) -> None:
        self.every = every
        self.last: datetime | None = None

    async def run(self, now: datetime, step: Callable[[], Awaitable[None]]) -> None:
        if self.last is None or now - self.last >= self.every:
            await step()
            self.last = now


def scan_cadence(rt: GateContext) -> Cadence:
    """Full scans of the projections: FerretDB reads every one, so they run seldom."""
    return Cadence(timedelta(seconds=rt.settings.scan_interval_seconds))


FAILED_TICK_BACKOFF = timedelta(seconds=30)


class Scheduler:
    """Drives every packet whose due time has come; several instances may race safely.

    Due times come from the gate as it writes (service.gate.due) and from the store's due
    lists, read at start and every `scan_interval_seconds` (what other instances wrote;
    service/adapters/mongo_index.py), by `_id`, whatever the number of stored revisions."""

    def __init__(self, rt: GateContext, due: DueTimes) -> None:
        self.rt = rt
        self.due = due
        self.scan = scan_cadence(rt)

    async def step(self) -> None:
        rt = self.rt
        now = rt.clock()

        async def refresh() -> None:
            self.due.merge(await rt.store.due_times(now + self.due.horizon))

        await self.scan.run(now, refresh)
        taken = self.due.take(now, limit=500)
        for done, packet_id in enumerate(taken):
            try:
                decision = await rt.gate.decide_one(packet_id, Tick())
            except Exception as exc:
                if is_transient(exc):  # the store names a due time once: keep what is left
                    self.due.merge({p: now for p in taken[done:]})
                    raise
                # A packet whose tick fails for another reason waits, and the others go on.
                rt.log.exception("scheduler tick failed", extra={"packet_id": packet_id})
                self.due.merge({packet_id: now + FAILED_TICK_BACKOFF})
                continue
            except BaseException:
                self.due.merge({p: now for p in taken[done:]})
                raise
            for fact in decision.facts:
                if fact.reason:
                    rt.metrics.scheduler_transitions.labels(reason=fact.reason).inc()


# A fact younger than this is its writer's to publish; the relay takes what a crash left.
PUBLISH_GRACE = timedelta(seconds=2)


async def relay_step(rt: GateContext, outbox: Publisher) -> None:
    cutoff = rt.clock() - PUBLISH_GRACE
    stale = await rt.store.unpublished(limit=1000, before=cutoff)
    if stale:
        rt.log.info("relay publishes facts left unpublished", extra={"count": len(stale)})
        await outbox.publish(stale)


def governance_step(rt: GateContext, watcher: GovernanceWatcher) -> Callable[[], Awaitable[None]]:
    async def step() -> None:
        if await watcher.poll():
            rt.metrics.governance_reloads.labels(outcome="applied").inc()
            rt.metrics.init_lanes(watcher.current.lanes)
            note_published_keys(rt.log, rt.health, rt.metrics, watcher.current)
            rt.log.info("governance reloaded", extra={"fingerprint": watcher.current.fingerprint})

    return step


class Monitor:
    """Lag per partition (high watermark minus the group's committed offset), states, backlog."""

    def __init__(self, rt: GateContext) -> None:
        self.rt = rt
        options = client_options(rt.settings)
        self.admin = AIOKafkaAdminClient(**options)
        self.probe = AIOKafkaConsumer(**options, enable_auto_commit=False)
        self.started = False
        self.count = scan_cadence(rt)
        self.count_topics = scan_cadence(rt)

    async def step(self) -> None:
        rt = self.rt
        if not self.started:
            await self.admin.start()
            await self.probe.start()
            self.started = True
        committed = await self.admin.list_consumer_group_offsets(rt.settings.consumer_group)
        for logical in INPUT_TOPICS:
            topic = rt.settings.topic(logical)
            parts = self.probe.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            if not tps:
                continue
            ends = await self.probe.end_offsets(tps)
            starts = await self.probe.beginning_offsets(tps)
            for tp in tps:
                meta = committed.get(tp)
                position = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
                rt.metrics.set_partition_position(logical, tp.partition, ends[tp], position)
        await self.count.run(rt.clock(), self._count_states)
        await self.count_topics.run(rt.clock(), self._check_topics)
        rt.metrics.outbox_pending.set(await rt.store.count_unpublished())

    async def _check_topics(self) -> None:
        """Partitions and replication of each topic as metrics; a warning in /readyz for any
        topic replicated less than TOPIC_REPLICATION_FACTOR asks."""
        rt = self.rt
        shapes = await topic_shapes(rt.settings, self.admin)
        for topic, (partitions, replicas) in shapes.items():
            rt.metrics.topic_partitions.labels(topic=topic).set(partitions)
            rt.metrics.topic_replication.labels(topic=topic).set(replicas)
        wanted = rt.settings.topic_replication_factor
        short = sorted(t for t, (_, replicas) in shapes.items() if replicas < wanted)
        if short:
            rt.health.warnings["topics"] = f"replication below {wanted}: {', '.join(short)}"
        else:
            rt.health.warnings.pop("topics", None)

    async def _count_states(self) -> None:
        for state, count in (await self.rt.store.state_counts()).items():
            self.rt.metrics.revisions.labels(state=state).set(count)

    async def close(self) -> None:
        """Bounded, like every step of shutdown: its clients only read lag."""
        if not self.started:
            return
        for name, close in (("probe", self.probe.stop), ("admin", self.admin.close)):
            try:
                async with asyncio.timeout(LOOP_STOP_SECONDS):
                    await close()
            except TimeoutError:
                self.rt.log.warning(f"the monitor's Kafka {name} client did not close in time")
