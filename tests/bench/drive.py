"""Drives lifecycles through a running service and times them from outside, over Kafka.

Saturation: every packet-ready is produced at once; each approval is produced the moment
its revision's `pending` lifecycle event is consumed, and the two forwards the moment its
manifest is consumed, so every input is valid when it arrives and the service always has
a backlog on every topic. Paced: packet-ready at a fixed rate, the rest as above.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.bench.workload import INPUTS_PER_LIFECYCLE, Lifecycle, Msg

OUTPUT_TOPICS = (
    "release-manifest",
    "blocked-forward",
    "forward-allowed",
    "packet-lifecycle",
    "dead-letter",
)
EVENT_ID = re.compile(rb'"id":"([^"]*)"')  # the first "id" of an encoded output CloudEvent


@dataclass
class RunResult:
    """What one driven run saw; times are perf_counter seconds in the bench process."""

    lifecycles: int
    started: float = 0.0
    ended: float = 0.0
    inputs_done: list[float] = field(default_factory=list)  # completion time of each input
    latencies: list[float] = field(default_factory=list)  # approval produced -> manifest seen
    unexpected: dict[str, int] = field(default_factory=dict)  # refusals, blocks, dead letters
    outputs_seen: int = 0
    duplicates: int = 0  # outputs seen again (re-published by the service), not counted
    complete: bool = False
    stalled: bool = False  # no output for the stall time: the run was abandoned

    @property
    def wall(self) -> float:
        return max(self.ended - self.started, 1e-9)

    @property
    def events_per_second(self) -> float:
        return len(self.inputs_done) / self.wall

    def window_rates(self, parts: int = 4) -> list[float]:
        """Inputs completed per second in each of `parts` equal slices of the run."""
        if not self.inputs_done:
            return [0.0] * parts
        width = self.wall / parts
        counts = [0] * parts
        for t in self.inputs_done:
            counts[min(int((t - self.started) / width), parts - 1)] += 1
        return [c / width for c in counts]


class Driver:
    """One producer for inputs and one group-less consumer on every output topic."""

    def __init__(self, bootstrap: str, prefix: str, partitions: int) -> None:
        self.prefix = prefix
        self.partitions = partitions
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=100,
            metadata_max_age_ms=1000,
        )

    async def start(self) -> None:
        """Call once the topics exist (topics.ensure_topics): partitions are assigned, not
        subscribed, and every position is resolved before anything is produced."""
        await self.producer.start()
        await self.consumer.start()
        tps = [
            TopicPartition(self.prefix + t, p)
            for t in OUTPUT_TOPICS
            for p in range(self.partitions)
        ]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        for tp in tps:
            await self.consumer.position(tp)

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.producer.stop()

    async def _send(self, msg: Msg) -> asyncio.Future[object]:
        fut: asyncio.Future[object] = await self.producer.send(
            self.prefix + msg.topic, msg.value, key=msg.key
        )
        return fut

    async def run(
        self,
        lcs: Sequence[Lifecycle],
        rate: float | None = None,
        timeout: float = 600.0,
        window: float | None = None,
        stall: float | None = 60.0,
    ) -> RunResult:
        """Push `lcs` through; `rate` in input events/s paces packet-ready (None: all at once).

        `window` ends the run after that many seconds whatever is still in flight (for
        runs too slow to finish); `complete` says whether every expected output arrived.
        `stall` ends it when no new output came for that long (a wedged store, say).
        """
        by_id = {lc.packet_id: lc for lc in lcs}
        forward_outputs = {o for lc in lcs for o in lc.forward_outputs}
        result = RunResult(lifecycles=len(lcs))
        approved_at: dict[str, float] = {}
        # Keyed by topic too: a manifest and its lifecycle note share the id `<mid>:released`.
        seen: set[tuple[str, bytes]] = set()
        expected = 6 * len(lcs)
        acks: list[asyncio.Future[object]] = []

        async def feed() -> None:
            if rate is None:
                for lc in lcs:
                    acks.append(await self._send(lc.ready))
                return
            interval = INPUTS_PER_LIFECYCLE / rate  # one lifecycle is 4 input events
            for i, lc in enumerate(lcs):
                delay = result.started + i * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                acks.append(await self._send(lc.ready))

        result.started = time.perf_counter()
        feeder = asyncio.create_task(feed())
        limit = result.started + (window if window is not None else timeout)
        progress = result.started
        try:
            while len(seen) < expected and time.perf_counter() < limit:
                batch = await self.consumer.getmany(timeout_ms=200)
                now = time.perf_counter()
                if batch:
                    progress = now
                elif stall is not None and now - progress > stall:
                    result.stalled = True
                    break
                for tp, records in batch.items():
                    topic = tp.topic[len(self.prefix) :]
                    for rec in records:
                        match = EVENT_ID.search(rec.value)
                        if match is None or (topic, match.group(1)) in seen:
                            result.duplicates += match is not None
                            continue
                        event_id = match.group(1)
                        seen.add((topic, event_id))
                        await self._on_output(
                            topic,
                            event_id.decode(),
                            now,
                            by_id,
                            forward_outputs,
                            approved_at,
                            result,
                            acks,
                        )
            result.ended = time.perf_counter()
            result.complete = len(seen) >= expected
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        result.outputs_seen = len(seen)
        await asyncio.gather(*acks, return_exceptions=True)
        return result

    async def _on_output(
        self,
        topic: str,
        event_id: str,
        now: float,
        by_id: dict[str, Lifecycle],
        forward_outputs: set[str],
        approved_at: dict[str, float],
        result: RunResult,
        acks: list[asyncio.Future[object]],
    ) -> None:
        if topic == "packet-lifecycle":
            pid, _, state = event_id.rpartition("@r1:")
            lc = by_id.get(pid)
            if lc is None:
                return
            if state == "pending":
                result.inputs_done.append(now)  # packet-ready took effect
                approved_at[pid] = time.perf_counter()
                acks.append(await self._send(lc.approve))
            elif state not in ("approved", "released"):
                what = f"lifecycle:{state.split(':')[0]}"
                result.unexpected[what] = result.unexpected.get(what, 0) + 1
        elif topic == "release-manifest":
            pid = event_id.rpartition("@r1:")[0]
            lc = by_id.get(pid)
            if lc is None:
                return
            result.inputs_done.append(now)  # the approval took effect
            if pid in approved_at:
                result.latencies.append(now - approved_at.pop(pid))
            for fwd in lc.forwards:
                acks.append(await self._send(fwd))
        elif topic == "forward-allowed":
            if event_id in forward_outputs:
                result.inputs_done.append(now)
        else:
            result.unexpected[topic] = result.unexpected.get(topic, 0) + 1


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]
