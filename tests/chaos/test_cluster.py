"""A three-broker cluster (ops/stack/cluster.sh): topics replicated 3 with min.insync.replicas 2,
two instances in one group, the chaos workload (tests/chaos/workload.py) streamed in with
acks=all, and a broker SIGKILLed mid-stream and restarted; then the offline checker
(tests/chaos/checker.py) must find nothing lost, conflicting, wrong, missed or early.

The cluster is this module's own (started once, always stopped and dropped); the store is
the shared one `ops/stack/stack.sh run` exports (MONGODB_URL), each run on its own database.
Nothing here sleeps to synchronise: it awaits outputs, or polls what has no event (partition
leadership, the in-sync replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from service.adapters.kafka_topics import create_topics
from service.settings import INPUT_TOPICS, OUTPUT_TOPICS, Settings
from tests.chaos.checker import Output, Report
from tests.chaos.conftest import LOGS, MONGODB_URL
from tests.chaos.harness import ChaosRun, metric
from tests.chaos.workload import Plan
from tests.support import kafka
from tests.support.service import ROOT

CLUSTER = ROOT / "ops" / "stack" / "cluster.sh"
NODES = 3  # node N: broker on CLUSTER_PORT + 2(N-1), its controller on the port above
REPLICAS, MIN_INSYNC = 3, 2
REPLICATED = {
    "TOPIC_REPLICATION_FACTOR": str(REPLICAS),
    "TOPIC_MIN_INSYNC_REPLICAS": str(MIN_INSYNC),
}
# Three JVMs start in about 15 s; each test runs for one to two minutes.
pytestmark = [pytest.mark.stack, pytest.mark.timeout(360)]

NewRun = Callable[[str], Awaitable[ChaosRun]]
Layout = dict[tuple[str, int], tuple[int, list[int]]]  # (topic, partition) -> (leader, isr)


def free_base(start: int) -> int:
    """The first base from `start` (in steps of ten) whose six ports nothing listens on:
    another checkout's cluster on the default ports must not be taken for this one."""
    for base in range(start, start + 1000, 10):
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + 2 * NODES):
                    s = held.enter_context(socket.socket())
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is free
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise AssertionError(f"no six free ports from {start}")


@functools.cache
def cluster_env() -> dict[str, str]:
    """CLUSTER_PORT when given (the ports cluster.sh is told to use), else free ones from
    29092: every cluster.sh call of the session is given the same."""
    port = os.environ.get("CLUSTER_PORT") or str(free_base(29092))
    return {**os.environ, "CLUSTER_PORT": port}


def cluster_sync(*args: str) -> str:
    result = subprocess.run(
        [str(CLUSTER), *args],
        cwd=ROOT,
        env=cluster_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"cluster.sh {' '.join(args)} exited {result.returncode}: {result.stderr}"
        )
    return result.stdout


async def cluster(*args: str) -> str:
    """cluster.sh without blocking the loop: the workload and the reader go on meanwhile."""
    proc = await asyncio.create_subprocess_exec(
        str(CLUSTER),
        *args,
        cwd=ROOT,
        env=cluster_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise AssertionError(f"cluster.sh {' '.join(args)} exited {proc.returncode}: {text}")
    return text


@pytest.fixture(scope="module")
def cluster_bootstrap() -> Iterator[str]:
    """The three brokers, up; stopped (and their data dropped) whatever happens. A cluster
    an interrupted run left behind in this checkout is stopped and dropped first."""
    try:
        cluster_sync("clean")
        cluster_sync("start")
        yield cluster_sync("bootstrap").strip()
    finally:
        cluster_sync("clean")


@pytest.fixture
async def replicated(cluster_bootstrap: str, chaos_governance: Path) -> AsyncIterator[NewRun]:
    """`run = await replicated("name")`: a fault run on the cluster, its topics replicated."""
    runs: list[ChaosRun] = []

    async def new(name: str) -> ChaosRun:
        run = ChaosRun(name, LOGS, chaos_governance, cluster_bootstrap, MONGODB_URL)
        # acks=all said outright (the idempotent producer implies it): an acknowledged input
        # is on min.insync.replicas brokers at least. The harness's own is never started.
        unused, run.producer.producer = (
            run.producer.producer,
            kafka.make_producer(cluster_bootstrap, acks="all", request_timeout_ms=10_000),
        )
        await unused.stop()
        runs.append(run)
        # Created replicated before the run opens (open() would create them with one replica).
        settings = Settings(
            kafka_bootstrap_servers=cluster_bootstrap,
            topic_prefix=run.prefix,
            topic_replication_factor=REPLICAS,
            topic_min_insync_replicas=MIN_INSYNC,
        )
        await create_topics(settings)
        await known_to_every_broker(cluster_bootstrap, run)
        await run.open()
        return run

    try:
        yield new
    finally:
        await cluster("start")  # a broker a test killed comes back, should the test have died
        for run in runs:
            await run.close()


async def layout(bootstrap: str, topics: list[str]) -> Layout:
    async with kafka.admin(bootstrap) as admin:
        described = await admin.describe_topics(topics)
    return {
        (str(d["topic"]), int(p["partition"])): (int(p["leader"]), sorted(p["isr"]))
        for d in described
        for p in d["partitions"]
    }


async def await_layout(
    bootstrap: str, topics: list[str], wanted: Callable[[Layout], bool], what: str, within: float
) -> Layout:
    """Poll the partitions' metadata until `wanted` (leadership has no event to await)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            found = await layout(bootstrap, topics)
        except (KafkaError, OSError) as exc:  # the metadata came from the dead broker
            found = {}
            last: object = exc
        else:
            last = found
            if wanted(found):
                return found
        assert loop.time() < deadline, f"{what} not within {within}s: {last}"
        await asyncio.sleep(0.5)


async def known_to_every_broker(bootstrap: str, run: ChaosRun, within: float = 60) -> None:
    """Until each broker's own metadata has the run's topics with a leader for every
    partition: brokers learn new topics from the controller one by one, and a client that
    asks a late one too early is told the topic does not exist (seen once)."""
    topics = [run.prefix + t for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with kafka.admin(bootstrap) as admin:
        for node in range(1, NODES + 1):
            while True:
                # the admin client's own call asks a random broker; this one asks `node`
                answer = await admin._send_request_to_node(node, MetadataRequest(topics))
                described = answer.to_object()["topics"]
                if all(
                    t["error_code"] == 0
                    and t["partitions"]
                    and all(p["leader"] >= 0 for p in t["partitions"])
                    for t in described
                ) and len(described) == len(topics):
                    break
                assert loop.time() < deadline, f"broker {node} lacks the run's topics: {described}"
                await asyncio.sleep(0.2)  # metadata propagation has no event to await


def inputs_of(run: ChaosRun) -> list[str]:
    return [run.prefix + t for t in INPUT_TOPICS]


async def assert_replicated(run: ChaosRun) -> Layout:
    """Every topic of the run: three replicas in sync, min.insync.replicas 2."""
    topics = [run.prefix + t for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
    found = await await_layout(
        run.bootstrap,
        topics,
        lambda parts: (
            len({t for t, _ in parts}) == len(topics)
            and all(len(isr) == REPLICAS for _, isr in parts.values())
        ),
        "three in-sync replicas of every partition",
        within=30,
    )
    async with kafka.admin(run.bootstrap) as admin:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        )
    insync = {
        str(resource["resource_name"]): entry["config_value"]
        for answer in answers
        for resource in answer.to_object()["resources"]
        for entry in resource["config_entries"]
        if entry["config_names"] == "min.insync.replicas"
    }
    assert insync == dict.fromkeys(topics, str(MIN_INSYNC)), insync
    return found


def busiest_leader(parts: Layout) -> tuple[int, int]:
    """The broker leading the most partitions (lowest id on a tie), and how many it leads."""
    counts = Counter(leader for leader, _ in parts.values())
    broker = min(counts, key=lambda b: (-counts[b], b))
    return broker, counts[broker]


def ends(outputs: list[Output]) -> dict[tuple[str, int], int]:
    """The next offset of each output partition read so far."""
    found: dict[tuple[str, int], int] = {}
    for out in outputs:
        key = (out.topic, out.partition)
        found[key] = max(found.get(key, 0), out.offset + 1)
    return found


async def await_failover(run: ChaosRun, broker: int, led: list[tuple[str, int]]) -> None:
    """Until the partitions `broker` led have other leaders (the controller fenced it)."""
    await await_layout(
        run.bootstrap,
        inputs_of(run),
        lambda parts: all(parts.get(tp, (broker, []))[0] not in (broker, -1) for tp in led),
        f"leadership away from broker {broker}",
        within=60,
    )
    run.mark(f"leaders-moved-from-{broker}")


async def await_rejoined(run: ChaosRun, broker: int) -> None:
    """Until the restarted broker is back in the in-sync replicas of every input partition."""
    await await_layout(
        run.bootstrap,
        inputs_of(run),
        lambda parts: bool(parts) and all(broker in isr for _, isr in parts.values()),
        f"broker {broker} back in sync",
        within=90,
    )
    run.mark(f"broker-{broker}-in-sync")


def retries(run: ChaosRun) -> dict[str, int]:
    """Kafka outage retries counted by each instance alive at the end."""
    return {
        svc.url: int(metric(text, "release_gate_infra_retries_total", dependency="kafka"))
        for svc, text in run.scrapes.items()
    }


async def brought_back(run: ChaosRun, broker: int, play: asyncio.Task[None]) -> Report:
    """Start the killed broker again, await it back in sync and the stream's end; the report."""
    await cluster("start-broker", str(broker))
    run.mark(f"broker-{broker}-answers")
    await await_rejoined(run, broker)
    await play
    return await run.finish()


def judge(run: ChaosRun, report: Report, sent: int, before: dict[tuple[str, int], int]) -> None:
    """The fault landed mid-stream (inputs and outputs after it), and the checker is content."""
    after = ends(run.reader.outputs)
    assert sent < len(run.producer.sent), "the kill landed after the last input"
    assert any(after[k] > before.get(k, 0) for k in after), "no output after the kill"
    assert report.ok, report.details()


async def test_the_partition_leaders_broker_killed_mid_stream_loses_and_forks_nothing(
    replicated: NewRun,
) -> None:
    run = await replicated("cluster-leader")
    await assert_replicated(run)
    instances = [run.service(**REPLICATED), run.service(**REPLICATED)]
    await asyncio.gather(*(svc.start() for svc in instances))
    parts = await layout(run.bootstrap, inputs_of(run))
    broker, leads = busiest_leader(parts)
    led = [tp for tp, (leader, _) in parts.items() if leader == broker]
    play = run.stream(Plan(packets=40), pace=0.5)
    await run.producer.reached(8)
    assert not play.done(), "the kill would come after the stream ended"
    sent, before, seen = len(run.producer.sent), ends(run.reader.outputs), len(run.reader.outputs)
    await cluster("kill-broker", str(broker))
    run.mark(f"broker-{broker}-killed")
    await await_failover(run, broker, led)
    await run.reader.wait_more(within=60, since=seen)
    assert len(run.reader.outputs) > seen, "no output followed the kill"
    report = await brought_back(run, broker, play)
    print(
        f"[cluster leader] killed broker {broker} (leader of {leads} of {len(parts)} input"
        f" partitions) after {sent} of {len(run.producer.sent)} inputs;"
        f" inputs={report.counts.get('inputs')} outputs={report.counts.get('outputs')}"
        f" kafka retries per instance={retries(run)}"
    )
    judge(run, report, sent, before)


async def test_a_broker_and_an_instance_killed_together_mid_stream_lose_and_fork_nothing(
    replicated: NewRun,
) -> None:
    run = await replicated("cluster-both")
    await assert_replicated(run)
    first, second = run.service(**REPLICATED), run.service(**REPLICATED)
    await asyncio.gather(first.start(), second.start())
    # The broker coordinating the instances' group: its loss moves the group to another
    # broker while the group also loses a member.
    async with kafka.admin(run.bootstrap) as admin:
        broker = await admin.find_coordinator(run.prefix + "gate")
    parts = await layout(run.bootstrap, inputs_of(run))
    led = [tp for tp, (leader, _) in parts.items() if leader == broker]
    # Every third approval is produced ahead of its packet: held across the kills too.
    play = run.stream(Plan(packets=40, early_every=3), pace=0.5)
    await run.producer.reached(8)
    assert not play.done(), "the kills would come after the stream ended"
    sent, before, seen = len(run.producer.sent), ends(run.reader.outputs), len(run.reader.outputs)
    assert first.proc is not None
    await asyncio.gather(cluster("kill-broker", str(broker)), first.kill())
    assert first.proc.returncode == -signal.SIGKILL, f"instance: {first.proc.returncode}"
    run.mark(f"broker-{broker}-and-instance-killed")
    await await_failover(run, broker, led)
    await first.start(within=90)  # ready once its consumers joined the moved group
    run.mark("instance-ready")
    await run.reader.wait_more(within=60, since=seen)
    assert len(run.reader.outputs) > seen, "no output followed the kills"
    report = await brought_back(run, broker, play)
    print(
        f"[cluster both] killed broker {broker} (group coordinator, leader of {len(led)} of"
        f" {len(parts)} input partitions) and an instance after {sent} of"
        f" {len(run.producer.sent)} inputs; inputs={report.counts.get('inputs')}"
        f" outputs={report.counts.get('outputs')} kafka retries per instance={retries(run)}"
    )
    judge(run, report, sent, before)
