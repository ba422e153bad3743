"""The ceiling: drive the bare pipeline (tests/bench/bare.py) with the service's message bytes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.bench import bare
from tests.bench.context import Context, database_of
from tests.bench.procs import LogWatch, Sampler, Usage, stack_pid
from tests.bench.steady import Hook, Span, Timing, as_hook, count_in, rate_in, rates_by_window
from tests.bench.topics import ensure_topics
from tests.bench.workload import Lifecycle, Msg, lifecycles
from tests.support import kafka
from tests.support.service import ROOT

BACKLOG_MESSAGES = 800  # in flight while saturated: the service's backlog of 200 lifecycles


async def bare_pipeline(ctx: Context, timing: Timing, ack: str) -> dict[str, Any]:
    """The bare pipeline as its own process, fed the service's message bytes (cycled: its
    insert is keyed by offset) with a standing backlog, for a warm-up and a steady span."""
    prefix = ctx.new_prefix(f"bare{ack[0]}")
    topic_in, topic_out = prefix + bare.IN, prefix + bare.OUT
    await ensure_topics(ctx.bootstrap, [topic_in, topic_out], ctx.partitions)
    msgs = [m for lc in lifecycles(BACKLOG_MESSAGES // 4, "bare") for m in lc_msgs(lc)]
    log_path = ctx.workdir / f"bare-{prefix}.log"
    proc = launch(ctx, prefix, ack, log_path)
    try:
        async with kafka.producer(ctx.bootstrap) as producer, kafka.consumer(ctx.bootstrap) as out:
            feed = Feed(producer, out, topic_in, proc, log_path)
            tps = [TopicPartition(topic_out, p) for p in range(ctx.partitions)]
            await kafka.assign_from_beginning(out, tps)
            await feed.push(msgs[:20], 120)  # the group has joined once these are through
            watch = LogWatch(log_path, ctx.bench_log)
            pids = {"bare": proc.pid, "store": stack_pid("store"), "kafka": stack_pid("kafka")}
            cpu = Sampler(pids)
            spans = await feed.saturate(msgs, timing, as_hook(cpu.start), as_hook(cpu.stop))
            disturbed = watch.count()
    finally:
        end(proc)
    return figures(prefix, ack, msgs, feed.done_at, *spans, timing.width, cpu.usage, disturbed)


def launch(ctx: Context, prefix: str, ack: str, log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m tests.bench.bare` on the prefix's topics and database, logging to log_path."""
    cmd = [sys.executable, "-m", "tests.bench.bare", "--bootstrap", ctx.bootstrap]
    cmd += ["--mongodb-url", ctx.mongodb_url, "--prefix", prefix, "--database", database_of(prefix)]
    log = log_path.open("ab")
    return subprocess.Popen([*cmd, "--ack", ack], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def end(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(20)
    if proc.poll() is None:
        proc.kill()


class Feed:
    """Produces batches to the pipeline's input and counts its outputs (by source record)."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        consumer: AIOKafkaConsumer,
        topic_in: str,
        proc: subprocess.Popen[bytes],
        log_path: Path,
    ) -> None:
        self.producer, self.consumer, self.topic_in = producer, consumer, topic_in
        self.proc, self.log_path = proc, log_path
        self.seen: set[bytes] = set()
        self.done_at: list[float] = []  # arrival time of each new output
        self.before = 0  # outputs seen before the saturated run began

    async def push(self, batch: list[Any], within: float) -> None:
        """Produce `batch`, wait for its outputs; gives up after 60 s without one."""
        target = len(self.seen) + len(batch)
        started = progress = time.perf_counter()
        acks = [await self.producer.send(self.topic_in, m.value, key=m.key) for m in batch]
        while len(self.seen) < target and time.perf_counter() - started < within:
            if await self._take():
                progress = time.perf_counter()
            else:
                self._check(progress)
        await asyncio.gather(*acks)

    async def _take(self) -> int:
        """One fetch; the outputs not seen before, their arrival time noted."""
        got = await self.consumer.getmany(timeout_ms=200)
        now = time.perf_counter()
        new = 0
        for records in got.values():
            for r in records:
                src = dict(r.headers).get("src", b"")
                if src not in self.seen:
                    self.seen.add(src)
                    self.done_at.append(now)
                    new += 1
        return new

    def _check(self, progress: float) -> None:
        if time.perf_counter() - progress > 60 or self.proc.poll() is not None:
            raise AssertionError(f"bare pipeline stalled; see {self.log_path}")

    async def saturate(
        self, msgs: list[Msg], timing: Timing, begin: Hook, end: Hook
    ) -> tuple[Span, Span]:
        """`msgs` over and over, `len(msgs)` in flight, for timing.warm then timing.steady
        seconds; `begin` and `end` run at the steady span's edges."""
        backlog = len(msgs)
        more = asyncio.Event()
        acks: list[asyncio.Future[object]] = []

        async def feed() -> None:
            for m in itertools.cycle(msgs):
                while len(acks) - len(self.done_at) + self.before >= backlog:
                    more.clear()
                    await more.wait()
                acks.append(await self.producer.send(self.topic_in, m.value, key=m.key))

        self.before = len(self.done_at)
        feeder = asyncio.create_task(feed())
        t0 = progress = time.perf_counter()
        marks = [t0 + timing.warm, t0 + timing.seconds]
        hooks = [begin, end]
        spans = [t0]
        try:
            while marks:
                if await self._take():
                    progress = time.perf_counter()
                    more.set()
                else:
                    self._check(progress)
                if time.perf_counter() >= marks[0]:
                    marks.pop(0)
                    spans.append(time.perf_counter())
                    await hooks.pop(0)()
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        await asyncio.gather(*acks, return_exceptions=True)
        return Span(spans[0], spans[1]), Span(spans[1], spans[2])


def figures(
    prefix: str,
    ack: str,
    msgs: list[Msg],
    done_at: list[float],
    warm: Span,
    steady: Span,
    width: float,
    usage: Usage,
    disturbed: dict[str, int],
) -> dict[str, Any]:
    return {
        "prefix": prefix,
        "ack": ack,
        "backlog_messages": len(msgs),
        "message_bytes_mean": round(sum(len(m.value) for m in msgs) / len(msgs)),
        "warm_up": {
            "seconds": round(warm.seconds, 2),
            "messages_done": count_in(done_at, warm),
            "events_per_second": round(rate_in(done_at, warm), 2),
        },
        "steady_seconds": round(steady.seconds, 2),
        "messages_done": count_in(done_at, steady),
        "events_per_second": round(rate_in(done_at, steady), 2),
        "window_seconds": width,
        "events_per_second_by_window": [
            round(r, 1) for r in rates_by_window(done_at, steady, width)
        ],
        "cpu_percent_of_one_core": {k: round(v, 1) for k, v in usage.cpu_percent.items()},
        "disturbed": disturbed,
    }


def lc_msgs(lc: Lifecycle) -> list[Msg]:
    return [lc.ready, lc.approve, *lc.forwards]
