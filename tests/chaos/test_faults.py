"""Faults while the workload streams in: nothing lost, conflicting, wrong, missed or early.

Each test prints `[chaos NAME] lost=.. conflicting=.. wrong=.. audit=.. missed=.. premature=..
inputs=.. ...`, and shows that its fault happened: a kill landed mid-stream and outputs
followed it, a frozen member was evicted and fenced, racing groups lost append races, an
outage was seen by the service. Sleeps here are fault durations (how long a server stays
down); everything else awaits the outputs the inputs must produce, or polls what has no event.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from tests.chaos.checker import Output, new_outputs
from tests.chaos.harness import SESSION_TIMEOUT_S, ChaosRun, metric, scrape, stop
from tests.chaos.stack import outage
from tests.chaos.workload import Plan

NewRun = Callable[[str], Awaitable[ChaosRun]]
# A broker restart alone can take a minute and a half on a loaded machine; a stuck run still
# ends with its findings printed well before this.
pytestmark = pytest.mark.timeout(420)


def ends(outputs: list[Output]) -> dict[tuple[str, int], int]:
    """The next offset of each output partition read so far."""
    found: dict[tuple[str, int], int] = {}
    for out in outputs:
        key = (out.topic, out.partition)
        found[key] = max(found.get(key, 0), out.offset + 1)
    return found


async def test_the_service_killed_three_times_mid_stream_loses_and_forks_nothing(
    chaos: NewRun,
) -> None:
    run = await chaos("sigkill")
    svc = run.service()
    await svc.start()
    # Each restart waits out the killed member's session before it is ready: a long stream
    # at a slow pace keeps all three kills inside it (each kill asserts so).
    # Every third approval is produced ahead of its packet: held across the kills too.
    play = run.stream(Plan(packets=40, early_every=3), pace=0.8)
    await run.producer.reached(6)
    kills: list[tuple[int, dict[tuple[str, int], int]]] = []
    for n in range(1, 4):
        assert not play.done(), f"kill {n} would come after the stream ended"
        assert svc.proc is not None
        await svc.kill()  # SIGKILL: no shutdown hook, no final commit
        assert svc.proc.returncode == -signal.SIGKILL, f"kill {n}: {svc.proc.returncode}"
        kills.append((len(run.producer.sent), ends(run.reader.outputs)))
        run.mark(f"killed-{n}")
        await svc.start()  # ready once its consumers joined: it may have worked a while
        seen = len(run.reader.outputs)
        await run.reader.wait_more(within=30, since=seen)  # strike again once it works
        assert len(run.reader.outputs) > seen, f"no output followed restart {n}"
    await play
    after = ends(run.reader.outputs)
    for n, (sent, before) in enumerate(kills, start=1):
        print(f"[chaos sigkill] kill {n}: {sent} inputs sent, outputs {before} -> {after}")
        assert sent < len(run.producer.sent), f"kill {n} landed after the last input"
        assert any(after[k] > before.get(k, 0) for k in after), f"nothing after kill {n}"
    report = await run.finish()
    assert report.ok, report.details()


async def test_a_zombie_instance_woken_after_its_session_timeout_publishes_nothing_wrong(
    chaos: NewRun,
) -> None:
    run = await chaos("zombie")
    first, second = run.service(), run.service()
    await asyncio.gather(first.start(), second.start())
    play = run.stream(Plan(packets=32), pace=0.8)  # long enough to wake mid-stream
    await run.producer.reached(6)
    await first.kill()
    await run.service().start()  # the restarted instance takes over the group's work
    await run.producer.reached(18)
    member_ids = await run.membership(second, bool)
    conflicts = metric(await scrape(second), "release_gate_store_conflicts_total")
    second.signal(signal.SIGSTOP)
    run.mark("frozen")
    try:
        # Frozen past its session timeout: the group rebalances without it.
        await run.membership(second, lambda ids: not ids, within=SESSION_TIMEOUT_S + 30)
        run.mark("evicted")
    finally:
        second.signal(signal.SIGCONT)  # wakes with a stale generation and stale state
        run.mark("woken")
    assert not play.done(), "the zombie woke after the stream ended"
    # Its old memberships are gone for good: whatever it commits under them is refused,
    # and it comes back only under new member ids, after another rebalance.
    rejoined = await run.membership(second, bool)
    assert rejoined.isdisjoint(member_ids), (member_ids, rejoined)
    await play
    report = await run.finish()
    woken = metric(run.scrapes[second], "release_gate_store_conflicts_total") - conflicts
    found = f"evicted {len(member_ids)} members, rejoined as {len(rejoined)}"
    print(f"[chaos zombie] {found}, append races lost after waking: {woken:.0f}")
    assert report.ok, report.details()


async def test_the_broker_killed_and_restarted_mid_stream_loses_nothing(chaos: NewRun) -> None:
    run = await chaos("broker")
    svc = run.service()
    await svc.start()
    play = run.stream(Plan(packets=30))
    await run.producer.reached(24)  # late in the stream: the broker takes long to recover
    async with outage("kafka"):
        run.mark("kafka-killed")
        await asyncio.sleep(3)  # the broker stays down this long
    run.mark("kafka-answers")
    await play
    report = await run.finish()
    retries = metric(run.scrapes[svc], "release_gate_infra_retries_total", dependency="kafka")
    print(f"[chaos broker] the service retried {retries:.0f} times after a broker failure")
    assert retries > 0, "the service never saw the broker go away"
    assert report.ok, report.details()


async def test_the_store_killed_and_restarted_mid_stream_loses_nothing(chaos: NewRun) -> None:
    run = await chaos("store")
    svc = run.service()
    await svc.start()
    play = run.stream(Plan(packets=30))
    await run.producer.reached(12)
    async with outage("store"):
        run.mark("store-killed")
        # Longer than the driver's 5 s server selection (service/adapters/mongo_client.py):
        # a shorter outage is only a delay to the service, never an error it retries.
        await asyncio.sleep(8)
    run.mark("store-answers")
    await play
    report = await run.finish()
    retries = metric(run.scrapes[svc], "release_gate_infra_retries_total", dependency="store")
    print(f"[chaos store] the service retried {retries:.0f} times after a store failure")
    assert retries > 0, "the service never saw the store go away"
    assert report.ok, report.details()


async def test_every_input_read_again_by_a_new_group_repeats_outputs_exactly_or_not_at_all(
    chaos: NewRun,
) -> None:
    run = await chaos("redelivery")
    first = run.service()
    await first.start()
    await run.stream(Plan(packets=30), pace=0.1)
    settled = await run.quiesce()
    assert not settled.lost, settled.details()
    await run.reader.drain()
    before = list(run.reader.outputs)
    await stop(first)
    await run.service(group="replay").start()  # same topics and database, offsets from 0
    await run.group_caught_up("replay")
    run.mark("replayed")
    report = await run.finish()
    # Audit checkpoints are the gate's own statements of what it appended, one chain per
    # process: the first instance's last one may come after `before` (its final flush at
    # stop); a replay that appends nothing anchors nothing, and any fact it did append
    # would show as a new output on the other topics.
    every = new_outputs(before, run.reader.outputs)
    new = [(topic, event_id) for topic, event_id in every if topic != "audit-checkpoint"]
    print(
        f"[chaos redelivery] outputs before={len(before)} after={len(run.reader.outputs)}"
        f" new_ids={len(new)} {new[:5]}"
    )
    assert report.ok, report.details()
    assert not new


async def test_two_instances_racing_approvals_forwards_and_expiry_agree(chaos: NewRun) -> None:
    run = await chaos("race")
    # Two groups: each instance processes every input, so both decide every revision, and
    # both schedulers race every release, expiry and approval timeout.
    both = [run.service(group="a"), run.service(group="b")]
    await asyncio.gather(*(svc.start() for svc in both))
    plan = Plan(
        packets=20,
        window=timedelta(seconds=8),  # released at once, expired 7 s after the approval
        forward_lags=(3, 36),  # 0.6 s and 7.2 s after the approval: around the expiry
        fast_every=3,  # a third in the lane whose pending revisions time out after 4 s
        fast_approve_lags=(15, 20, 25),  # 3 s, 4 s and 5 s after the packet
    )
    await run.stream(plan, pace=0.2)
    await asyncio.gather(run.group_caught_up("a"), run.group_caught_up("b"))  # both consumed
    run.mark("both-consumed")
    report = await run.finish()
    lost = {
        svc.url: metric(text, "release_gate_store_conflicts_total")
        for svc, text in run.scrapes.items()
    }
    print(f"[chaos race] append races lost, per instance: {lost}")
    assert len(lost) == 2 and sum(lost.values()) > 0, lost
    assert report.ok, report.details()
