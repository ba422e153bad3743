"""Faults while the workload streams in: nothing lost, nothing conflicting, nothing wrong.

Each test prints `[chaos NAME] lost=.. conflicting=.. wrong=.. audit=.. inputs=.. ...`.
Sleeps here are fault durations (how long a server stays down or an instance frozen);
everything else awaits the outputs the inputs must produce.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from tests.chaos.checker import new_outputs
from tests.chaos.harness import SESSION_TIMEOUT_S, ChaosRun, stop
from tests.chaos.stack import outage
from tests.chaos.workload import Plan

NewRun = Callable[[str], Awaitable[ChaosRun]]
# A broker restart alone can take a minute and a half on a loaded machine; a stuck run still
# ends with its findings printed well before this.
pytestmark = pytest.mark.timeout(420)


async def test_the_service_killed_three_times_mid_stream_loses_and_forks_nothing(
    chaos: NewRun,
) -> None:
    run = await chaos("sigkill")
    svc = run.service()
    await svc.start()
    # Each restart waits out the killed member's session before it is ready: a slower pace
    # keeps all three kills inside the stream.
    # Every third approval is produced ahead of its packet: held across the kills too.
    play = run.stream(Plan(packets=30, early_every=3), pace=0.7)
    await run.producer.reached(6)
    for _ in range(3):
        await svc.kill()  # SIGKILL: no shutdown hook, no final commit
        run.mark("killed")
        seen = len(run.reader.outputs)
        await svc.start()  # ready once its consumers joined: it may have worked a while
        await run.reader.wait_more(within=30, since=seen)  # strike again once it works
    await play
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
    second.signal(signal.SIGSTOP)
    run.mark("frozen")
    try:
        await asyncio.sleep(SESSION_TIMEOUT_S + 4)  # frozen well past its session timeout
    finally:
        second.signal(signal.SIGCONT)  # wakes with a stale generation and stale state
        run.mark("woken")
    await play
    report = await run.finish()
    assert report.ok, report.details()


async def test_the_broker_killed_and_restarted_mid_stream_loses_nothing(chaos: NewRun) -> None:
    run = await chaos("broker")
    await run.service().start()
    play = run.stream(Plan(packets=30))
    await run.producer.reached(24)  # late in the stream: the broker takes long to recover
    async with outage("kafka"):
        run.mark("kafka-killed")
        await asyncio.sleep(3)  # the broker stays down this long
    run.mark("kafka-answers")
    await play
    report = await run.finish()
    assert report.ok, report.details()


async def test_the_store_killed_and_restarted_mid_stream_loses_nothing(chaos: NewRun) -> None:
    run = await chaos("store")
    await run.service().start()
    play = run.stream(Plan(packets=30))
    await run.producer.reached(12)
    async with outage("store"):
        run.mark("store-killed")
        await asyncio.sleep(3)  # the store stays down this long
    run.mark("store-answers")
    await play
    report = await run.finish()
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
    new = new_outputs(before, run.reader.outputs)
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
    report = await run.finish()
    assert report.ok, report.details()
