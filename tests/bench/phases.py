"""The bench's measurements, one function each; run.py strings them together."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)

from service.adapters.mongo_store import DUPLICATE_KEY, MongoStore
from service.settings import INPUT_TOPICS, OUTPUT_TOPICS
from tests.bench import bare, profile
from tests.bench.drive import Driver, RunResult, percentile
from tests.bench.procs import BenchService, LogWatch, Sampler, stack_pid, vm_hwm_bytes
from tests.bench.resilience import phase, say
from tests.bench.topics import delete_topics, ensure_topics
from tests.bench.workload import FactCloner, lifecycles
from tests.support.events import governance_yaml
from tests.support.service import ROOT


@dataclass
class Context:
    bootstrap: str
    mongodb_url: str
    partitions: int
    workdir: Path
    keep: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    prefixes: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.governance = self.workdir / "lanes.yaml"
        self.governance.write_text(governance_yaml())
        self.bench_log = self.workdir / "bench.log"  # this process's client-library warnings

    def new_prefix(self, tag: str) -> str:
        """A fresh topic prefix (a re-run phase gets a new one); its database is named after it."""
        prefix = f"bench-{self.run_id}-{tag}-"
        again = 2
        while prefix in self.prefixes:
            prefix = f"bench-{self.run_id}-{tag}{again}-"
            again += 1
        self.prefixes.append(prefix)
        self.databases.append(database_of(prefix))
        return prefix

    def topics_of(self, prefix: str) -> list[str]:
        return [prefix + t for t in (*INPUT_TOPICS, *OUTPUT_TOPICS, bare.IN, bare.OUT)]

    async def cleanup(self, within: float = 60) -> list[str]:
        """Drop every database and topic this run made (the 1 M-fact database is GBs).

        FerretDB drops a database only after the scans still running on it end (a killed
        service leaves some behind, minutes long at 1 M facts), so the wait is bounded; the
        names not yet gone are returned (FerretDB finishes a drop it has begun on its own).
        """
        if self.keep:
            return []
        await delete_topics(self.bootstrap, [t for p in self.prefixes for t in self.topics_of(p)])
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.mongodb_url)
        left: list[str] = []
        try:
            for name in self.databases:  # no listDatabases: one wedged database hangs it
                try:
                    await asyncio.wait_for(client.drop_database(name), within)
                except (TimeoutError, PyMongoError):
                    left.append(name)
        finally:
            await client.close()
        return left


async def clean_all(ctx: Context) -> list[str]:
    """Every bench_<run>_* database and bench-<run>-* topic, whichever run made it."""
    pattern = re.compile(r"bench[_-][0-9a-f]{6}[_-]")
    admin = AIOKafkaAdminClient(bootstrap_servers=ctx.bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if pattern.match(t)]
    finally:
        await admin.close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.mongodb_url)
    try:
        listed = await asyncio.wait_for(client.list_database_names(), 30)
        names = [n for n in listed if pattern.match(n)]
    finally:
        await client.close()
    ctx.databases, ctx.prefixes = names, []
    await delete_topics(ctx.bootstrap, topics)
    return await ctx.cleanup(within=300)


def database_of(prefix: str) -> str:
    return prefix.strip("-").replace("-", "_")  # as ServiceProcess names it


def sampled_pids(service_pid: int) -> dict[str, int | None]:
    return {
        "service": service_pid,
        "store": stack_pid("store"),
        "kafka": stack_pid("kafka"),
        "bench": os.getpid(),
    }


async def wait_group_stable(bootstrap: str, group: str, members: int, within: float = 90) -> float:
    """Until every subscriber of the instance has joined and the group is Stable."""
    started = time.perf_counter()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while time.perf_counter() - started < within:
            with contextlib.suppress(Exception):
                [resp] = await admin.describe_consumer_groups([group])
                desc = resp.groups[0]
                if desc[2] == "Stable" and len(desc[5]) == members:
                    return time.perf_counter() - started
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    raise TimeoutError(f"group {group} not stable with {members} members in {within}s")


@contextlib.asynccontextmanager
async def instance(
    ctx: Context,
    prefix: str,
    module: str = "service",
    extra_env: dict[str, str] | None = None,
    graceful: bool = True,
) -> AsyncIterator[tuple[BenchService, Driver, dict[str, Any]]]:
    """A fresh service (own topics, database, group), joined, with a driver attached.

    `graceful=False` ends it with SIGKILL: a service stuck in minute-long store scans
    would otherwise hold its SIGTERM for the stop timeout, and its database is dropped."""
    await ensure_topics(ctx.bootstrap, ctx.topics_of(prefix)[:-2], ctx.partitions)
    svc = BenchService(ctx.workdir, prefix, ctx.governance, ctx.partitions, module, extra_env)
    info: dict[str, Any] = {"prefix": prefix, "database": svc.database, "log": str(svc.log_path)}
    started = time.perf_counter()
    await svc.start()
    info["ready_seconds"] = round(time.perf_counter() - started, 2)
    driver = Driver(ctx.bootstrap, prefix, ctx.partitions)
    try:
        await driver.start()
        joined = await wait_group_stable(ctx.bootstrap, f"{prefix}gate", len(INPUT_TOPICS))
        info["group_join_seconds"] = round(joined, 2)
        yield svc, driver, info
    finally:
        await driver.stop()
        await (svc.stop() if graceful else svc.kill())


async def warm_up(driver: Driver) -> RunResult:
    return await driver.run(lifecycles(2, "warm"), timeout=120)  # stalls after 60 s


def summarize(run: RunResult) -> dict[str, Any]:
    p50, p99 = percentile(run.latencies, 50), percentile(run.latencies, 99)
    return {
        "lifecycles": run.lifecycles,
        "input_events_done": len(run.inputs_done),
        "complete": run.complete,
        "wall_seconds": round(run.wall, 3),
        "events_per_second": round(run.events_per_second, 2),
        "events_per_second_by_quarter": [round(r, 2) for r in run.window_rates()],
        "approval_to_manifest_p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "approval_to_manifest_p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "latency_samples": len(run.latencies),
        "outputs_seen": run.outputs_seen,
        "duplicate_outputs": run.duplicates,
        "unexpected_outputs": run.unexpected,
        "stalled": run.stalled,
    }


def cpu_per_event(percent: float | None, seconds: float, events: int) -> dict[str, Any]:
    """The service's own CPU per input event, and the rate one core could carry at that cost."""
    if not percent or not events:
        return {}
    ms = percent / 100 * seconds * 1000 / events
    return {
        "service_cpu_ms_per_input_event": round(ms, 2),
        "cpu_bound_ceiling_events_per_second_one_core": round(1000 / ms, 1),
    }


def handler_metrics(text: str) -> dict[str, dict[str, float]]:
    """Mean handler time per topic from the service's own histogram (/metrics)."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("release_gate_handler_seconds_"):
            continue
        name, _, value = line.rpartition(" ")
        topic = name.split('topic="', 1)[-1].split('"', 1)[0]
        if name.startswith("release_gate_handler_seconds_sum"):
            sums[topic] = sums.get(topic, 0.0) + float(value)
        elif name.startswith("release_gate_handler_seconds_count"):
            counts[topic] = counts.get(topic, 0.0) + float(value)
    return {
        t: {"messages": counts[t], "mean_ms": round(1000 * sums.get(t, 0.0) / counts[t], 2)}
        for t in counts
        if counts[t]
    }


async def saturation(ctx: Context, count: int) -> dict[str, Any]:
    """Phase 1 and 5: a backlog of `count` lifecycles; throughput, latency, RSS, CPU."""
    async with instance(ctx, ctx.new_prefix("sat")) as (svc, driver, info):
        warm = await warm_up(driver)
        watch = LogWatch(svc.log_path, ctx.bench_log)
        sampler = Sampler(sampled_pids(svc.pid))
        sampler.start()
        run = await driver.run(lifecycles(count, "sat"), timeout=120 + 2 * count)
        usage = await sampler.stop()
        disturbed = watch.count() | ({"stalled": 1} if run.stalled else {})
        hwm = vm_hwm_bytes(svc.pid)
        metrics = (await svc.get("/metrics")).text
    return {
        **info,
        "warm_up_complete": warm.complete,
        **summarize(run),
        "facts_stored_at_end": 5 * (count + 2),
        "cpu_percent_of_one_core": {k: round(v, 1) for k, v in usage.cpu_percent.items()},
        "peak_rss_bytes": usage.peak_rss,
        "service_vm_hwm_bytes": hwm,
        "handler_mean_ms": handler_metrics(metrics),
        **cpu_per_event(usage.cpu_percent.get("service"), usage.seconds, len(run.inputs_done)),
        "disturbed": disturbed,
    }


async def half_rate(ctx: Context, saturated_eps: float, seconds: float) -> dict[str, Any]:
    """Phase 2: packet-ready paced so the input rate is half the saturated one."""
    rate = max(saturated_eps / 2, 0.5)
    count = max(4, math.ceil(rate / 4 * seconds))
    async with instance(ctx, ctx.new_prefix("half")) as (svc, driver, info):
        await warm_up(driver)
        watch = LogWatch(svc.log_path, ctx.bench_log)
        sampler = Sampler(sampled_pids(svc.pid))
        sampler.start()
        run = await driver.run(lifecycles(count, "half"), rate=rate, timeout=seconds * 6 + 60)
        usage = await sampler.stop()
        disturbed = watch.count() | ({"stalled": 1} if run.stalled else {})
    return {
        **info,
        "target_events_per_second": round(rate, 2),
        **summarize(run),
        "cpu_percent_of_one_core": {k: round(v, 1) for k, v in usage.cpu_percent.items()},
        "disturbed": disturbed,
    }


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
        target = len(seen) + len(batch)
        started = time.perf_counter()
        acks = [await producer.send(topic_in, m.value, key=m.key) for m in batch]
        while len(seen) < target and time.perf_counter() - started < within:
            got = await consumer.getmany(timeout_ms=200)
            for records in got.values():
                seen.update(dict(r.headers).get("src", b"") for r in records)
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


def lc_msgs(lc: Any) -> list[Any]:
    return [lc.ready, lc.approve, *lc.forwards]


async def _insert(
    client: AsyncMongoClient[dict[str, Any]], coll: Any, docs: list[dict[str, Any]]
) -> float:
    """insert_many that rides out a store restart; returns the seconds spent waiting."""
    waited = 0.0
    while True:
        try:
            await coll.insert_many(docs, ordered=False)
            return waited
        except BulkWriteError as err:  # a retried chunk: what landed before is a duplicate
            if all(e.get("code") == DUPLICATE_KEY for e in err.details.get("writeErrors", [])):
                return waited
            raise
        except (ConnectionFailure, OperationFailure) as exc:
            if isinstance(exc, OperationFailure) and not exc.has_error_label("RetryableWriteError"):
                raise
            started = time.perf_counter()
            say("    the store went away during the load; waiting for it")
            while True:
                with contextlib.suppress(ConnectionFailure):
                    await client.admin.command("ping")
                    break
                if time.perf_counter() - started > 180:
                    raise
                await asyncio.sleep(2)
            waited += time.perf_counter() - started


async def preload(
    client: AsyncMongoClient[dict[str, Any]],
    database: str,
    facts_target: int,
    cloner: FactCloner,
    deadline_seconds: float | None = None,
) -> dict[str, Any]:
    """Insert realistic fact and projection documents with insert_many, indexes in place.

    With a deadline, loading stops once that much time (outages excluded) has passed."""
    await client.drop_database(database)  # a re-run starts from nothing
    db = client[database]
    await MongoStore(db).ensure_indexes()  # the service's own indexes, as in production
    packets = math.ceil(facts_target / cloner.facts_per_packet)
    chunk = 200  # packets per insert_many: 1,000 fact documents
    started = time.perf_counter()
    loaded = outages = 0
    waited = 0.0
    for first in range(0, packets, chunk):
        facts: list[dict[str, Any]] = []
        revisions: list[dict[str, Any]] = []
        for i in range(first, min(first + chunk, packets)):
            f, r = cloner.packet(f"GP{i:018d}")
            facts += f
            revisions += r
        for coll, docs in ((db.facts, facts), (db.revisions, revisions)):
            lost = await _insert(client, coll, docs)
            waited += lost
            outages += lost > 0
        loaded += len(facts)
        spent = time.perf_counter() - started - waited
        if deadline_seconds is not None and spent > deadline_seconds:
            break
    seconds = time.perf_counter() - started - waited
    return {
        "facts_loaded": loaded,
        "packets_loaded": loaded // cloner.facts_per_packet,
        "load_seconds": round(seconds, 2),
        "facts_per_second": round(loaded / seconds, 1),
        "load_outages": outages,
        "load_outage_seconds": round(waited, 1),
    }


async def probe_queries(
    client: AsyncMongoClient[dict[str, Any]], database: str, cap_seconds: float
) -> dict[str, Any]:
    """Time the store queries a message costs at this size (capped by maxTimeMS)."""
    facts = client[database]["facts"]
    one = await facts.find_one({}, {"packet_id": 1}, max_time_ms=int(cap_seconds * 1000))
    pid = None if one is None else one["packet_id"]
    out: dict[str, Any] = {}
    queries = {
        "load_packet: find {packet_id}": {"packet_id": pid},
        "find {_id} (FerretDB's one pushdown)": {"_id": f"{pid}@r1/1"},
        "mark_published filter {_id: {$in}}": {"_id": {"$in": [f"{pid}@r1/1"]}},
    }
    for name, query in queries.items():
        started = time.perf_counter()
        try:
            _ = [
                d async for d in facts.find(query, {"_id": 1}).max_time_ms(int(cap_seconds * 1000))
            ]
            out[name] = round((time.perf_counter() - started) * 1000, 1)
        except ExecutionTimeout:
            out[name] = f"> {cap_seconds * 1000:.0f} (cut off by maxTimeMS)"
    return out


async def growth(
    ctx: Context,
    facts_target: int,
    window: float,
    cloner: FactCloner,
    tag: str,
    load_deadline: float | None = None,
    probe_cap: float = 10,
) -> dict[str, Any]:
    """Phase 4: throughput over a fixed window with `facts_target` facts already stored.

    The facts are loaded once; a window the stack disturbed is measured again by a fresh
    instance (new topics and group) on the same database."""
    unused = [ctx.new_prefix(tag)]  # the first window runs on the load's own prefix
    database = database_of(unused[0])
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.mongodb_url, tz_aware=True)
    try:
        load = await preload(client, database, facts_target, cloner, load_deadline)
        probes = await probe_queries(client, database, cap_seconds=probe_cap)
    finally:
        await client.close()

    async def measure_window() -> dict[str, Any]:
        prefix = unused.pop() if unused else ctx.new_prefix(tag)
        env = {"MONGODB_DATABASE": database}
        async with instance(ctx, prefix, extra_env=env, graceful=False) as (svc, driver, info):
            watch = LogWatch(svc.log_path, ctx.bench_log)
            sampler = Sampler(sampled_pids(svc.pid))
            sampler.start()
            run = await driver.run(lifecycles(400, tag), window=window, stall=None)
            usage = await sampler.stop()
            disturbed = watch.count()
        return {
            **info,
            "window_seconds": window,
            **summarize(run),
            "cpu_percent_of_one_core": {k: round(v, 1) for k, v in usage.cpu_percent.items()},
            "disturbed": disturbed,
        }

    measured = await phase(ctx, f"growth/{tag} window", measure_window)
    return {**load, "query_ms_at_this_size": probes, **measured, "database": database}


async def profiled(ctx: Context, count: int, out_dir: Path) -> dict[str, Any]:
    """Phase 6: the saturation run again, under py-spy and with timers around the parts."""
    stats_path = out_dir / f"bench-stats-{ctx.run_id}.json"
    raw_path = out_dir / f"bench-pyspy-{ctx.run_id}.txt"
    env = {"BENCH_STATS_PATH": str(stats_path)}
    async with instance(
        ctx, ctx.new_prefix("prof"), module="tests.bench.instrumented", extra_env=env
    ) as (
        svc,
        driver,
        info,
    ):
        await warm_up(driver)
        pid = svc.pid
        watch = LogWatch(svc.log_path, ctx.bench_log)
        spy = profile.start_py_spy(pid, raw_path)
        run = await driver.run(lifecycles(count, "prof"), timeout=120 + 2 * count)
        profile.stop_py_spy(spy)
        disturbed = watch.count() | ({"stalled": 1} if run.stalled else {})
        handled = handler_metrics((await svc.get("/metrics")).text)
    processed = int(sum(h["messages"] for h in handled.values()))  # warm-up included, as timers
    stats = profile.load_stats(stats_path)
    samples = profile.read_raw(raw_path) if raw_path.exists() else {}
    return {
        **info,
        **summarize(run),
        "py_spy_raw": str(raw_path),
        "timers": stats,
        "messages_processed_by_service": processed,
        "disturbed": disturbed,
        "summary": profile.summarize(samples, stats, processed, pid, len(run.inputs_done)),
    }
