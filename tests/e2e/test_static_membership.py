"""Static group membership (`GROUP_INSTANCE_ID`, the pod name in ops/helm/release-gate): a
restart of one instance within the session timeout rebalances no other member, while an
instance without it rebalances every member when it leaves.

The observer is the module's service; it counts its consumers' completed group joins
(`release_gate_consumer_assignments_total`, one per rebalance it took part in)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.conftest import BOOTSTRAP
from tests.e2e.steps import scrape
from tests.support import kafka
from tests.support.service import ServiceProcess

SESSION_MS = 30_000  # room for a restart of a static member without its eviction


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    return {"GROUP_INSTANCE_ID": "static-observer", "SESSION_TIMEOUT_MS": str(SESSION_MS)}


ASSIGNMENTS = "release_gate_consumer_assignments_total"


async def joins(service: ServiceProcess) -> float:
    samples = await scrape(service)
    return sum(v for (name, _), v in samples.items() if name == ASSIGNMENTS)


async def stable_group(prefix: str, members: int) -> None:
    """Until the coordinator calls the group Stable with `members` members."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    state: tuple[str, int] = ("", 0)
    while loop.time() < deadline:
        async with kafka.admin(BOOTSTRAP) as admin:
            [response] = await admin.describe_consumer_groups([f"{prefix}gate"])
        [group] = response.to_object()["groups"]
        state = (group["state"], len(group["members"]))
        if state == ("Stable", members):
            return
        await asyncio.sleep(0.3)  # the group's state is polled: there is no event
    raise AssertionError(f"group never Stable with {members} members: {state}")


async def quiet(service: ServiceProcess, prefix: str, members: int) -> float:
    """The observer's join count once the group is Stable and a heartbeat has passed without
    the count moving (a rebalance in progress reaches a member on its next heartbeat)."""
    await stable_group(prefix, members)
    before = await joins(service)
    while True:
        await asyncio.sleep(1.0)  # longer than the 300 ms heartbeat of the e2e services
        now = await joins(service)
        if now == before:
            return now
        before = now


async def test_a_restarted_static_member_rebalances_no_other_member_and_a_dynamic_one_does(
    service: ServiceProcess, prefix: str, governance_file: Path, tmp_path: Path
) -> None:
    consumers = 5  # one per input topic and instance
    # The control first: an instance without GROUP_INSTANCE_ID leaving moves the count.
    dynamic = ServiceProcess(tmp_path, prefix, governance_file, extra_env={})
    await dynamic.start()
    try:
        before_leaving = await quiet(service, prefix, 2 * consumers)
    finally:
        await dynamic.stop()  # LeaveGroup: every member rejoins
    left = await quiet(service, prefix, consumers)
    print(f"\n[static] observer joins: {before_leaving} before a dynamic member left, {left} after")
    assert left > before_leaving

    static = {
        "GROUP_INSTANCE_ID": "static-a",
        "SESSION_TIMEOUT_MS": str(SESSION_MS),
        "HEARTBEAT_INTERVAL_MS": "300",
    }
    first = ServiceProcess(tmp_path, prefix, governance_file, extra_env=static)
    await first.start()
    baseline = await quiet(service, prefix, 2 * consumers)
    await first.stop()  # SIGTERM: a static member sends no LeaveGroup
    assert first.proc is not None and first.proc.returncode == 0
    again = ServiceProcess(tmp_path, prefix, governance_file, extra_env=static)
    await again.start()  # the same GROUP_INSTANCE_ID, within the session timeout
    try:
        after_restart = await quiet(service, prefix, 2 * consumers)
    finally:
        await again.stop()
    print(f"[static] observer joins: {baseline} before a static restart, {after_restart} after")
    assert after_restart == baseline
