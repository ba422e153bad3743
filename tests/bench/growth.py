"""The cost of growth: load realistic facts fast, time the store's queries, then measure
the saturated service on them (a warm-up, then a steady span in windows)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, ConnectionFailure, ExecutionTimeout, OperationFailure

from service.adapters.mongo_store import DUPLICATE_KEY, MongoStore
from tests.bench.context import Context, database_of, instance
from tests.bench.phases import measured_run
from tests.bench.resilience import phase, say
from tests.bench.steady import (
    Timing,
    figures,
    p50_by_window,
    pool_size,
    worst_window,
)
from tests.bench.workload import FactCloner, lifecycles


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
        snapshots: list[dict[str, Any]] = []
        for i in range(first, min(first + chunk, packets)):
            f, r, snap = cloner.packet(f"GP{i:018d}")
            facts += f
            revisions += r
            snapshots.append(snap)
        for coll, docs in ((db.facts, facts), (db.revisions, revisions), (db.packets, snapshots)):
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
        "load_packet: find {packet_id}": (facts, {"packet_id": pid}),
        "find {_id} (FerretDB's one pushdown)": (facts, {"_id": f"{pid}@r1/1"}),
        "snapshot: packets find {_id}": (client[database]["packets"], {"_id": pid}),
        "scheduler scan: revisions find {next_due: {$lte}}": (
            client[database]["revisions"],
            {"next_due": {"$lte": datetime.now(UTC)}},
        ),
    }
    for name, (coll, query) in queries.items():
        started = time.perf_counter()
        try:
            _ = [d async for d in coll.find(query, {"_id": 1}).max_time_ms(int(cap_seconds * 1000))]
            out[name] = round((time.perf_counter() - started) * 1000, 1)
        except ExecutionTimeout:
            out[name] = f"> {cap_seconds * 1000:.0f} (cut off by maxTimeMS)"
    return out


STORE_TIMEOUT_MS = 25_000  # under the service's 30 s socket timeout, so maxTimeMS is sent


def with_timeout(url: str, ms: int = STORE_TIMEOUT_MS) -> str:
    """The connection string with timeoutMS added (after any options it already has)."""
    if "?" in url:
        return f"{url}&timeoutMS={ms}"
    has_path = "/" in url.split("://", 1)[-1]
    return f"{url}{'' if has_path else '/'}?timeoutMS={ms}"


async def growth(
    ctx: Context,
    facts_target: int,
    timing: Timing,
    pool_rate: float,
    cloner: FactCloner,
    tag: str,
    load_deadline: float | None = None,
    probe_cap: float = 10,
) -> dict[str, Any]:
    """Saturated throughput with `facts_target` facts already stored: a warm-up, then a
    steady span cut into windows, each with its approval -> manifest p50.

    The facts are loaded once; a run the stack disturbed is measured again by a fresh
    instance (new topics and group) on the same database. `pool_rate` (input events/s)
    sizes the lifecycles made for the run.

    The instance's store URL carries `timeoutMS` (PyMongo then sends maxTimeMS with every
    command): the service sets only socketTimeoutMS, and when that fires the client hangs
    up but FerretDB goes on scanning, and the retry starts the same scan again. At 1 M
    facts one scan takes minutes, so a killed service would leave the shared store busy for
    half an hour. A query that outlives the timeout could not finish in the window anyway;
    at 10 k facts (about 2 s a query) the timeout never fires."""
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
        env = {"MONGODB_DATABASE": database, "MONGODB_URL": with_timeout(ctx.mongodb_url)}
        pool = lifecycles(pool_size(pool_rate, timing.seconds, timing.backlog), tag)
        async with instance(ctx, prefix, extra_env=env, graceful=False) as (svc, driver, info):
            m = await measured_run(svc, driver, pool, timing, ctx.bench_log, backlog=timing.backlog)
        out = figures(m.run, m.warm, m.steady, timing.width)
        p50s = p50_by_window(m.run.latency_at, m.run.latencies, m.steady, timing.width)
        return {
            **info,
            **out,
            "latency_windows": worst_window(p50s),
            "cpu_percent_of_one_core": {k: round(v, 1) for k, v in m.cpu.cpu_percent.items()},
            "peak_rss_bytes": m.peak_rss,
            "disturbed": m.disturbed,
        }

    measured = await phase(ctx, f"growth/{tag} window", measure_window)
    return {
        **load,
        "query_ms_at_this_size": probes,
        **measured,
        "database": database,
        "service_store_timeout_ms": STORE_TIMEOUT_MS,
    }
