"""Drives lifecycles through a running service and times them from outside, over Kafka.

Saturation: a backlog of packet-readies is produced at once and topped up by one each time
a lifecycle ends (its last forward allowed), so as many stay in flight; each approval is
produced the moment its revision's `pending` lifecycle event is consumed, and the two
forwards the moment its manifest is consumed, so every input is valid when it arrives and
the service always has a backlog on every topic. Paced: packet-ready at a fixed rate, the
rest as above.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from service.settings import OUTPUT_TOPICS
from tests.bench.workload import INPUTS_PER_LIFECYCLE, Lifecycle, Msg
from tests.support import kafka

EVENT_ID = re.compile(rb'"id":"([^"]*)"')  # the first "id" of an encoded output CloudEvent


@dataclass
class RunResult:
    """What one driven run saw; times are perf_counter seconds in the bench process."""

    lifecycles: int
    started: float = 0.0
    ended: float = 0.0
    inputs_done: list[float] = field(default_factory=list)  # completion time of each input
    latencies: list[float] = field(default_factory=list)  # approval produced -> manifest seen
    latency_at: list[float] = field(default_factory=list)  # when each of those manifests came
    lifecycles_fed: int = 0  # packet-readies produced
    pool_exhausted_at: float | None = None  # the feeder ran out of lifecycles (backlog mode)
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


@dataclass
class _Pass:
    """What one run tracks while it consumes: expected outputs, sends still unacknowledged."""

    lcs: Sequence[Lifecycle]
    result: RunResult
    by_id: dict[str, Lifecycle] = field(init=False)
    forward_outputs: set[str] = field(init=False)
    approved_at: dict[str, float] = field(default_factory=dict)
    # Keyed by topic too: a manifest and its lifecycle note share the id `<mid>:released`.
    seen: set[tuple[str, bytes]] = field(default_factory=set)
    acks: list[asyncio.Future[object]] = field(default_factory=list)
    forwards_left: dict[str, int] = field(default_factory=dict)  # packet id -> not yet allowed
    ended: asyncio.Queue[str] = field(default_factory=asyncio.Queue)  # lifecycles done, in order

    def __post_init__(self) -> None:
        self.by_id = {lc.packet_id: lc for lc in self.lcs}
        self.forward_outputs = {o for lc in self.lcs for o in lc.forward_outputs}
        self.forward_owner = {o: lc.packet_id for lc in self.lcs for o in lc.forward_outputs}

    @property
    def expected(self) -> int:
        return 6 * len(self.lcs)


class Driver:
    """One producer for inputs and one group-less consumer on every output topic."""

    def __init__(self, bootstrap: str, prefix: str, partitions: int) -> None:
        self.prefix = prefix
        self.partitions = partitions
        self.producer = kafka.make_producer(bootstrap)
        self.consumer = kafka.make_output_consumer(bootstrap, fetch_max_wait_ms=100)

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
        await kafka.assign_from_beginning(self.consumer, tps)

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
        backlog: int | None = None,
        until: asyncio.Event | None = None,
    ) -> RunResult:
        """Push `lcs` through; `rate` in input events/s paces packet-ready (None: all at once,
        or with `backlog`, that many lifecycles in flight, topped up as each one ends).

        `window` ends the run after that many seconds whatever is still in flight (for
        runs too slow to finish); `complete` says whether every expected output arrived.
        `stall` ends it when no new output came for that long (a wedged store, say), and
        `until`, once set, ends it too (a time-based phase is over: tests/bench/steady.py).
        """
        run = _Pass(lcs, RunResult(lifecycles=len(lcs)))
        result = run.result
        result.started = time.perf_counter()
        feeder = asyncio.create_task(self._feed(run, rate, backlog))
        limit = result.started + (window if window is not None else timeout)
        try:
            await self._consume(run, limit, stall, until or asyncio.Event())
            result.ended = time.perf_counter()
            result.complete = len(run.seen) >= run.expected
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        result.outputs_seen = len(run.seen)
        await asyncio.gather(*run.acks, return_exceptions=True)
        return result

    async def _feed(self, run: _Pass, rate: float | None, backlog: int | None) -> None:
        """Every packet-ready at once, `backlog` in flight, or one lifecycle's worth every
        4 / `rate` seconds; a pool used up before the run ends is marked."""
        if rate is not None:
            interval = INPUTS_PER_LIFECYCLE / rate  # one lifecycle is 4 input events
            for i, lc in enumerate(run.lcs):
                delay = run.result.started + i * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._ready(run, lc)
        else:
            for i, lc in enumerate(run.lcs):
                if backlog is not None and i >= backlog:
                    await run.ended.get()  # one ended: one more in flight
                await self._ready(run, lc)
            if backlog is not None:  # reached only while the run goes on (it cancels us)
                run.result.pool_exhausted_at = time.perf_counter()

    async def _ready(self, run: _Pass, lc: Lifecycle) -> None:
        run.forwards_left[lc.packet_id] = len(lc.forwards)
        run.acks.append(await self._send(lc.ready))
        run.result.lifecycles_fed += 1

    async def _consume(
        self, run: _Pass, limit: float, stall: float | None, until: asyncio.Event
    ) -> None:
        """Until every expected output is seen, `limit` passes, no output came for `stall`,
        or `until` is set."""
        result = run.result
        progress = result.started
        while len(run.seen) < run.expected and time.perf_counter() < limit and not until.is_set():
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
                    if match is None or (topic, match.group(1)) in run.seen:
                        result.duplicates += match is not None
                        continue
                    event_id = match.group(1)
                    run.seen.add((topic, event_id))
                    await self._on_output(topic, event_id.decode(), now, run)

    async def _on_output(self, topic: str, event_id: str, now: float, run: _Pass) -> None:
        result = run.result
        if topic == "packet-lifecycle":
            pid, _, state = event_id.rpartition("@r1:")
            state = state.removeprefix("lifecycle:")  # "<manifest_id>:lifecycle:<state>"
            lc = run.by_id.get(pid)
            if lc is None:
                return
            if state == "pending":
                result.inputs_done.append(now)  # packet-ready took effect
                run.approved_at[pid] = time.perf_counter()
                run.acks.append(await self._send(lc.approve))
            elif state not in ("approved", "released"):
                what = f"lifecycle:{state.split(':')[0]}"
                result.unexpected[what] = result.unexpected.get(what, 0) + 1
        elif topic == "release-manifest":
            pid = event_id.rpartition("@r1:")[0]
            lc = run.by_id.get(pid)
            if lc is None:
                return
            result.inputs_done.append(now)  # the approval took effect
            if pid in run.approved_at:
                result.latencies.append(now - run.approved_at.pop(pid))
                result.latency_at.append(now)
            for fwd in lc.forwards:
                run.acks.append(await self._send(fwd))
        elif topic == "forward-allowed":
            if event_id in run.forward_outputs:
                result.inputs_done.append(now)
                self._forward_done(run, run.forward_owner[event_id])
        else:
            result.unexpected[topic] = result.unexpected.get(topic, 0) + 1

    @staticmethod
    def _forward_done(run: _Pass, pid: str) -> None:
        left = run.forwards_left.get(pid, 0) - 1
        run.forwards_left[pid] = left
        if left == 0:
            run.ended.put_nowait(pid)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]
