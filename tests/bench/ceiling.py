"""The ceiling: drive the bare pipeline (tests/bench/bare.py) with the service's message bytes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.bench import bare
from tests.bench.context import Context, database_of
from tests.bench.procs import LogWatch, Sampler, Usage, stack_pid
from tests.bench.topics import ensure_topics
from tests.bench.workload import Lifecycle, Msg, lifecycles
from tests.support import kafka
from tests.support.service import ROOT


async def bare_pipeline(ctx: Context, count: int, ack: str) -> dict[str, Any]:
    """Phase 3: the bare pipeline as its own process, fed the same message bytes."""
    prefix = ctx.new_prefix(f"bare{ack[0]}")
    topic_in, topic_out = prefix + bare.IN, prefix + bare.OUT
    await ensure_topics(ctx.bootstrap, [topic_in, topic_out], ctx.partitions)
    msgs = [m for lc in lifecycles(math.ceil(count / 4), "bare") for m in lc_msgs(lc)][:count]
    warm = [m for lc in lifecycles(5, "bwarm") for m in lc_msgs(lc)]
    log_path = ctx.workdir / f"bare-{prefix}.log"
    proc = launch(ctx, prefix, ack, log_path)
    try:
        async with kafka.producer(ctx.bootstrap) as producer, kafka.consumer(ctx.bootstrap) as out:
            feed = Feed(producer, out, topic_in, proc, log_path)
            tps = [TopicPartition(topic_out, p) for p in range(ctx.partitions)]
            await kafka.assign_from_beginning(out, tps)
            await feed.push(warm, 120)  # the group has joined once these are through
            watch = LogWatch(log_path, ctx.bench_log)
            sampler = Sampler(
                {"bare": proc.pid, "store": stack_pid("store"), "kafka": stack_pid("kafka")}
            )
            sampler.start()
            started, ended = await feed.push(msgs, 600)
            usage = await sampler.stop()
            disturbed = watch.count()
    finally:
        end(proc)
    return figures(prefix, ack, msgs, len(feed.seen) - len(warm), ended - started, usage, disturbed)


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

    async def push(self, batch: list[Any], within: float) -> tuple[float, float]:
        """Produce `batch`, wait for its outputs; gives up after 60 s without one."""
        target = len(self.seen) + len(batch)
        started = progress = time.perf_counter()
        acks = [await self.producer.send(self.topic_in, m.value, key=m.key) for m in batch]
        while len(self.seen) < target and time.perf_counter() - started < within:
            got = await self.consumer.getmany(timeout_ms=200)
            for records in got.values():
                self.seen.update(dict(r.headers).get("src", b"") for r in records)
            if got:
                progress = time.perf_counter()
            elif time.perf_counter() - progress > 60 or self.proc.poll() is not None:
                raise AssertionError(f"bare pipeline stalled; see {self.log_path}")
        await asyncio.gather(*acks)
        return started, time.perf_counter()


def figures(
    prefix: str,
    ack: str,
    msgs: list[Msg],
    done: int,
    wall: float,
    usage: Usage,
    disturbed: dict[str, int],
) -> dict[str, Any]:
    return {
        "prefix": prefix,
        "ack": ack,
        "messages": len(msgs),
        "message_bytes_mean": round(sum(len(m.value) for m in msgs) / len(msgs)),
        "messages_done": done,
        "complete": done >= len(msgs),
        "wall_seconds": round(wall, 3),
        "events_per_second": round(done / wall, 2),
        "cpu_percent_of_one_core": {k: round(v, 1) for k, v in usage.cpu_percent.items()},
        "disturbed": disturbed,
    }


def lc_msgs(lc: Lifecycle) -> list[Msg]:
    return [lc.ready, lc.approve, *lc.forwards]
