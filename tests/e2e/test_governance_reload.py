"""Governance reloads (docs/contract.md): the file in force now decides, at approval and release.

The module edits its own governance file; each edit is awaited through the reload counter
(a reload has no event), so the tests run in file order on purpose.
"""

from datetime import timedelta
from pathlib import Path

from service.domain.times import parse_time
from tests.e2e.steps import (
    copies,
    lifecycle_event,
    ready,
    refused,
    released,
    rewrite,
    sample,
    settled,
)
from tests.support.builders import (
    FAST_LANE,
    LANE,
    OWNER,
    OWNER_SEED,
    RECIPIENTS,
    SECOND_OWNER,
    SECOND_SEED,
    approval,
    auditors_yaml,
    lane_yaml,
    new_id,
    now,
    packet,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


def governance(
    recipients: tuple[str, ...] = RECIPIENTS,
    owners: tuple[tuple[str, bytes], ...] = ((OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED)),
) -> str:
    return (
        auditors_yaml()
        + "lanes:\n"
        + lane_yaml(LANE, owners=owners, recipients=recipients)
        + lane_yaml(FAST_LANE, pending="PT4S", owners=owners, recipients=recipients)
    )


NARROWED = tuple(r for r in RECIPIENTS if r != "exec:vp-support")


async def test_an_approval_waiting_for_its_window_is_superseded_if_governance_no_longer_allows_it(
    bus: Bus, service: ServiceProcess, governance_file: Path
) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    start = now() + timedelta(seconds=8)
    decision = approval(pkt, audience=["exec:cro", "exec:vp-support"], valid_from=start)
    await bus.send("approval-decision", decision)
    await lifecycle_event(bus, pid, 1, "approved")
    await rewrite(service, governance_file, governance(recipients=NARROWED), "applied")
    assert now() < start, "the reload came too late to test the release-time re-check"
    change = await lifecycle_event(bus, pid, 1, "superseded")
    assert (change["from_state"], change["reason"]) == ("approved", "release-check-failed")
    assert change["detail"].startswith("audience-out-of-scope")
    assert parse_time(change["at"]) >= start
    assert copies(bus, "release-manifest", f"{pid}@r1:released") == 0
    check = sample("release_gate_blocked_total", stage="release", reason="audience-out-of-scope")
    await settled(service, {check: 1.0})


async def test_after_a_reload_an_audience_outside_the_new_scope_is_refused(bus: Bus) -> None:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    data = await refused(bus, approval(pkt, audience=["exec:vp-support"]))
    assert (data["reason"], data["to_state"]) == ("audience-out-of-scope", "pending")
    manifest = await released(bus, pkt, audience=["exec:cro"])
    assert manifest["data"]["audience"] == ["exec:cro"]


async def test_a_release_owner_removed_from_the_file_can_no_longer_approve(
    bus: Bus, service: ServiceProcess, governance_file: Path
) -> None:
    only_dana = governance(recipients=NARROWED, owners=((OWNER, OWNER_SEED),))
    await rewrite(service, governance_file, only_dana, "applied")
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    data = await refused(bus, approval(pkt, approver=SECOND_OWNER, seed=SECOND_SEED))
    assert data["reason"] == "not-release-owner"
    await released(bus, pkt)


async def test_an_invalid_edit_is_refused_and_the_last_good_governance_stays_in_force(
    bus: Bus, service: ServiceProcess, governance_file: Path
) -> None:
    await rewrite(service, governance_file, "lanes: [this is: not, a lane\n", "refused")
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    data = await refused(bus, approval(pkt, approver=SECOND_OWNER, seed=SECOND_SEED))
    assert data["reason"] == "not-release-owner"  # still the file of the previous test
    await released(bus, pkt)
