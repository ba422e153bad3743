"""The ceiling: drive the bare pipeline (tests/bench/bare.py) with the service's message bytes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import subprocess
import sys
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.bench import bare
from tests.bench.context import Context, database_of
from tests.bench.procs import LogWatch, Sampler, stack_pid
from tests.bench.topics import ensure_topics
from tests.bench.workload import Lifecycle, Msg, lifecycles
from tests.support.service import ROOT


async def bare_pipeline(ctx: Context, count: int, ack: str) -> dict[str, Any]:
    """Phase 3: the bare pipeline as its own process, fed the same message bytes."""
    prefix = ctx.new_prefix(f"bare{ack[0]}")
    database = database_of(prefix)
    topic_in, topic_out = prefix + bare.IN, prefix + bare.OUT
    await ensure_topics(ctx.bootstrap, [topic_in, topic_out], ctx.partitions)
    msgs = [m for lc in lifecycles(math.ceil(count / 4), "bare") for m in lc_msgs(lc)][:count]
    warm = [m for lc in lifecycles(5, "bwarm") for m in lc_msgs(lc)]
    log_path = ctx.workdir / f"bare-{prefix}.log"
    log = log_path.open("ab")
    cmd = [sys.executable, "-m", "tests.bench.bare", "--bootstrap", ctx.bootstrap]
    cmd += ["--mongodb-url", ctx.mongodb_url, "--prefix", prefix, "--database", database]
    proc = subprocess.Popen([*cmd, "--ack", ack], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, enable_idempotence=True)
    consumer = AIOKafkaConsumer(bootstrap_servers=ctx.bootstrap, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    seen: set[bytes] = set()

    async def push(batch: list[Any], within: float) -> tuple[float, float]:
        """Produce `batch`, wait for its outputs; gives up after 60 s without one."""
        target = len(seen) + len(batch)
        started = progress = time.perf_counter()
        acks = [await producer.send(topic_in, m.value, key=m.key) for m in batch]
        while len(seen) < target and time.perf_counter() - started < within:
            got = await consumer.getmany(timeout_ms=200)
            for records in got.values():
                seen.update(dict(r.headers).get("src", b"") for r in records)
            if got:
                progress = time.perf_counter()
            elif time.perf_counter() - progress > 60 or proc.poll() is not None:
                raise AssertionError(f"bare pipeline stalled; see {log_path}")
        await asyncio.gather(*acks)
        return started, time.perf_counter()

    try:
        tps = [TopicPartition(topic_out, p) for p in range(ctx.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            await consumer.position(tp)
        await push(warm, 120)  # the group has joined once these are through
        watch = LogWatch(log_path, ctx.bench_log)
        sampler = Sampler(
            {"bare": proc.pid, "store": stack_pid("store"), "kafka": stack_pid("kafka")}
        )
        sampler.start()
        started, ended = await push(msgs, 600)
        usage = await sampler.stop()
        disturbed = watch.count()
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        if proc.poll() is None:
            proc.kill()
        await consumer.stop()
        await producer.stop()
    done = len(seen) - len(warm)
    wall = ended - started
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
