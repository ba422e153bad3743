"""One run's context: names, clean-up, and fresh service instances joined and driven."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from service.settings import INPUT_TOPICS, OUTPUT_TOPICS
from tests.bench import bare
from tests.bench.drive import Driver
from tests.bench.procs import BenchService, stack_pid
from tests.bench.topics import ensure_topics
from tests.support import kafka
from tests.support.builders import governance_yaml


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
        service leaves some behind, minutes long at 1 M facts), so the wait is bounded and
        the names not dropped are returned, for `python -m tests.bench.run --clean` later.
        """
        if self.keep:
            return []
        mine = [t for p in self.prefixes for t in self.topics_of(p)]
        await kafka.delete_topics(self.bootstrap, mine, best_effort=True)  # none left behind
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
    async with kafka.admin(ctx.bootstrap) as admin:
        topics = [t for t in await admin.list_topics() if pattern.match(t)]
    await kafka.delete_topics(ctx.bootstrap, topics, best_effort=True)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.mongodb_url)
    try:
        listed = await asyncio.wait_for(client.list_database_names(), 30)
    except TimeoutError:  # seen once: a wedged FerretDB database hangs listDatabases
        return ["(listDatabases hangs: restart the store, then run --clean again)"]
    finally:
        await client.close()
    ctx.databases, ctx.prefixes = [n for n in listed if pattern.match(n)], []
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


@contextlib.asynccontextmanager
async def instance(
    ctx: Context,
    prefix: str,
    module: str = "service",
    extra_env: dict[str, str] | None = None,
    graceful: bool = True,
) -> AsyncIterator[tuple[BenchService, Driver, dict[str, Any]]]:
    """A fresh service (own topics, database, group), ready (so joined), with a driver.

    `graceful=False` ends it with SIGKILL: a service stuck in minute-long store scans
    would otherwise hold its SIGTERM for the stop timeout, and its database is dropped."""
    topics = [prefix + t for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
    await ensure_topics(ctx.bootstrap, topics, ctx.partitions)
    svc = BenchService(ctx.workdir, prefix, ctx.governance, ctx.partitions, module, extra_env)
    info: dict[str, Any] = {"prefix": prefix, "database": svc.database, "log": str(svc.log_path)}
    started = time.perf_counter()
    try:
        await svc.start()
    except BaseException:
        await svc.kill()  # not ready in time: leave no process behind
        raise
    info["ready_seconds"] = round(time.perf_counter() - started, 2)
    driver = Driver(ctx.bootstrap, prefix, ctx.partitions)
    try:
        await driver.start()
        yield svc, driver, info
    finally:
        await driver.stop()
        await (svc.stop() if graceful else svc.kill())
