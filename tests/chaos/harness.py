"""One fault run: its own topics, database and service instances; the workload streamed in;
quiescence awaited from the outputs the inputs must produce; then the offline verdict."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from service.settings import INPUT_TOPICS, OUTPUT_TOPICS
from tests.chaos.checker import Report, check
from tests.chaos.model import LaneSpec
from tests.chaos.streams import Producer, Reader, consumed_everything, ensure_topics
from tests.chaos.workload import Plan, Workload
from tests.support import kafka
from tests.support.builders import (
    FAST_LANE,
    LANE,
    OWNER,
    OWNER_PUBLIC_KEY,
    RECIPIENTS,
    REQUIRED_EVIDENCE,
    SECOND_OWNER,
    SECOND_SEED,
    public_b64,
)
from tests.support.service import ServiceProcess

FAST_PENDING = timedelta(seconds=4)  # governance_yaml()'s default for the fast lane
MAX_PENDING = {LANE: timedelta(days=14), FAST_LANE: FAST_PENDING}
# What governance_yaml() (conftest.py) gives the instances, as the checker reads it.
OWNER_KEYS = {OWNER: OWNER_PUBLIC_KEY, SECOND_OWNER: base64.b64decode(public_b64(SECOND_SEED))}
GOVERNANCE = {
    lane: LaneSpec(
        frozenset(RECIPIENTS), OWNER_KEYS, timedelta(days=7), pending, frozenset(REQUIRED_EVIDENCE)
    )
    for lane, pending in MAX_PENDING.items()
}
# Short group timeouts so a killed or frozen instance is replaced in seconds, and short
# back-off so an outage ends in seconds too (both are settings, not code changes).
SESSION_TIMEOUT_S = 6
CHAOS_ENV = {
    "SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_S * 1000),
    "HEARTBEAT_INTERVAL_MS": "1000",
    "RETRY_BACKOFF_MAX_SECONDS": "1",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class ChaosRun:
    def __init__(
        self, name: str, workdir: Path, governance: Path, bootstrap: str, mongodb_url: str
    ) -> None:
        self.name = name
        self.prefix = f"chaos-{name}-{uuid.uuid4().hex[:6]}-"
        self.workdir = workdir / self.prefix.strip("-")  # service logs; kept if it fails
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.governance = governance
        self.bootstrap, self.mongodb_url = bootstrap, mongodb_url
        self.producer = Producer(bootstrap, self.prefix)
        self.reader = Reader(bootstrap, self.prefix)
        self.services: list[ServiceProcess] = []
        self.workload: Workload | None = None
        self.started = time.monotonic()
        self.marks: list[str] = []  # when each phase ended, printed with the verdict
        self.passed = False
        self.scrapes: dict[ServiceProcess, str] = {}  # /metrics of each instance alive at the end

    def mark(self, label: str) -> None:
        self.marks.append(f"{label}@{time.monotonic() - self.started:.0f}s")

    @property
    def database(self) -> str:
        return self.prefix.strip("-").replace("-", "_")

    async def open(self) -> None:
        await ensure_topics(self.bootstrap, self.prefix)
        await self.producer.start()
        await self.reader.start()

    def service(self, group: str | None = None, **env: str) -> ServiceProcess:
        """A new instance on this run's topics and database (and group, unless told)."""
        extra = {**CHAOS_ENV, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, **env}
        extra["MONGODB_URL"] = self.mongodb_url
        if group is not None:
            extra["CONSUMER_GROUP"] = f"{self.prefix}{group}"
        svc = ServiceProcess(self.workdir, self.prefix, self.governance, extra_env=extra)
        self.services.append(svc)
        return svc

    def stream(self, plan: Plan, pace: float = 0.25) -> asyncio.Task[None]:
        self.workload = Workload(self.prefix.strip("-"), plan)
        play = self.producer.play(self.workload.steps, pace, self.reader.seen_created)
        self.mark("stream")
        task = asyncio.create_task(play)
        task.add_done_callback(lambda _: self.mark("streamed"))
        return task

    def check(
        self,
        grace: timedelta = timedelta(0),
        views: Mapping[str, Mapping[str, Any] | None] | None = None,
        audit_ok: bool | None = None,
    ) -> Report:
        """The verdict on everything produced and read so far, as of now."""
        return check(
            self.producer.sent,
            self.reader.outputs,
            now=utcnow(),
            governance=GOVERNANCE,
            grace=grace,
            views=views,
            audit_ok=audit_ok,
        )

    async def settle(self, within: float = 120) -> Report:
        """Until nothing is outstanding: every input accounted for, nothing due soon."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            report = self.check()
            soon = report.next_due is not None and report.next_due < utcnow() + timedelta(minutes=2)
            if (not report.lost and not soon) or loop.time() > deadline:
                return report
            await self.reader.wait_change(0.5)  # re-check time-driven work twice a second

    async def members(self, svc: ServiceProcess, group: str = "gate") -> set[str]:
        """The member ids `svc`'s consumers hold in the group now (none: it is no member).

        Each instance's consumers carry the client id `release-gate-<host>-<pid>`."""
        assert svc.proc is not None
        async with kafka.admin(self.bootstrap) as admin:
            responses = await admin.describe_consumer_groups([self.prefix + group])
        return {
            member["member_id"]
            for response in responses
            for described in response.to_object()["groups"]
            for member in described["members"]
            if str(member["client_id"]).endswith(f"-{svc.proc.pid}")
        }

    async def membership(
        self, svc: ServiceProcess, wanted: Callable[[set[str]], bool], within: float = 60
    ) -> set[str]:
        """Poll the group until `svc`'s member ids are `wanted`; they are returned."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not wanted(found := await self.members(svc)):
            assert loop.time() < deadline, f"membership of {svc.url} never as wanted: {found}"
            await asyncio.sleep(0.5)  # group membership is polled: there is no event
        return found

    async def group_caught_up(self, group: str, within: float = 90) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not await consumed_everything(self.bootstrap, self.prefix, self.prefix + group):
            assert loop.time() < deadline, f"group {group} did not consume every input"
            await asyncio.sleep(0.5)  # committed offsets are polled: there is no event

    async def quiesce(self, within: float = 120) -> Report:
        """Settle; then ask a late forward per packet (once) and settle again."""
        settled = await self.settle(within)
        self.mark("settled")
        if self.workload is not None and not settled.lost:
            late, self.workload = self.workload.late_forwards(), None
            await self.producer.play(late, pace=0)
            settled = await self.settle(within)
            self.mark("late-forwards-settled")
        return settled

    async def finish(self, within: float = 120) -> Report:
        """Quiesce, read the audit views and verify the chains, stop every instance, judge."""
        settled = await self.quiesce(within)
        self.mark("quiet")
        live = [s for s in self.services if s.proc and s.proc.poll() is None]
        views: dict[str, dict[str, Any] | None] = {}
        audit_ok: bool | None = None
        if live:
            audit = asyncio.create_task(asyncio.to_thread(live[0].cli, "audit", "verify"))
            views = await self.views(live[0])
            self.mark("viewed")
            self.scrapes = {svc: await scrape(svc) for svc in live}
            # Quiet: whatever an instance still sent would repeat an output already here.
            await asyncio.gather(*(svc.kill() for svc in live))
            result = await audit
            self.mark("audited")
            audit_ok = result.returncode == 0
            if not audit_ok:
                print(f"audit verify: {result.stdout}{result.stderr}")
        await self.reader.drain()
        report = self.check(grace=timedelta(seconds=10), views=views, audit_ok=audit_ok)
        if settled.lost and not report.lost:
            report.lost += settled.lost
        self.mark("judged")
        print(f"\n[chaos {self.name}] {report.line()}\n  phases: {' '.join(self.marks)}")
        print(f"  service logs: {self.failures_logged()}")  # a finding, not a verdict
        if not report.ok:
            logs = ", ".join(str(s.log_path) for s in self.services)
            print(report.details() + f"\n  kept: {logs}")
        self.passed = report.ok
        return report

    def failures_logged(self) -> str:
        """The "processing failed" retries the instances logged (not outages: bugs), by error."""
        errors: Counter[str] = Counter()
        for svc in self.services:
            with contextlib.suppress(OSError):
                for line in svc.log_path.read_text(errors="replace").splitlines():
                    if '"processing failed"' in line:
                        with contextlib.suppress(ValueError, KeyError):
                            errors[json.loads(line)["exception"].strip().splitlines()[-1]] += 1
        found = ", ".join(f"{n}x {error[:120]}" for error, n in errors.most_common())
        return f"processing failed {sum(errors.values())} times" + (f": {found}" if found else "")

    async def views(self, svc: ServiceProcess) -> dict[str, dict[str, Any] | None]:
        """/packets/{id} of every packet the workload named (a 404 is None)."""
        ids = sorted(
            {
                str(item.data["packet_id"])
                for item in self.producer.sent
                if "packet_id" in item.data and not item.dead
            }
        )
        found: dict[str, dict[str, Any] | None] = {}
        gate = asyncio.Semaphore(8)
        async with svc.signed_in() as client:

            async def fetch(packet_id: str) -> None:
                async with gate:
                    response = await client.get(f"/packets/{packet_id}")
                found[packet_id] = response.json() if response.status_code == 200 else None

            await asyncio.gather(*(fetch(packet_id) for packet_id in ids))
        return found

    async def close(self) -> None:
        for svc in self.services:
            with contextlib.suppress(ProcessLookupError, AssertionError):
                svc.signal(signal.SIGCONT)  # a frozen instance cannot even die gracefully
            await svc.kill()
        await self.reader.stop()
        await self.producer.stop()
        # Topics go whatever the verdict: every partition left behind slows the broker's
        # recovery after a SIGKILL, for every suite. A failed run keeps its logs and database.
        await self._delete_topics()
        if self.passed:
            await self._drop_database()
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def _delete_topics(self) -> None:
        topics = [self.prefix + t for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
        await kafka.delete_topics(self.bootstrap, topics)

    async def _drop_database(self) -> None:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(self.mongodb_url)
        try:
            await client.drop_database(self.database)
        finally:
            await client.close()


async def scrape(svc: ServiceProcess) -> str:
    async with httpx.AsyncClient(base_url=svc.url, timeout=10) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a scraped series over the samples matching `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def stop(svc: ServiceProcess) -> None:
    with contextlib.suppress(ProcessLookupError, AssertionError):
        svc.signal(signal.SIGCONT)
    await svc.stop()
