"""Attacks on a quorum: one owner signing twice, the preparer as the second owner, and an
owner removed from the governance file between the approvals. None of them releases.

The module runs its own service (the e2e fixtures) on its own governance file, which one
test rewrites: the package's shared services keep theirs.
"""

from pathlib import Path
from typing import Any

import pytest

from service.domain.times import format_time
from tests.e2e import conftest as e2e_fixtures
from tests.e2e.steps import mid, ready, refused, rewrite
from tests.security.attacks import PREPARER_SEED
from tests.support.builders import (
    OWNER,
    OWNER_SEED,
    PREPARER,
    QUORUM_LANE,
    SECOND_OWNER,
    SECOND_SEED,
    THIRD_OWNER,
    THIRD_SEED,
    approval,
    governance_yaml,
    lane_yaml,
    new_id,
    now,
    packet,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

# This module's own service and bus, as every e2e module has them.
prefix, service_env, warm_up = e2e_fixtures.prefix, e2e_fixtures.service_env, e2e_fixtures.warm_up
service, bus = e2e_fixtures.service, e2e_fixtures.bus

SHARED_LANE = "exec-board-shared"  # the preparer is one of its owners
THREE = ((OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED), (THIRD_OWNER, THIRD_SEED))


def governance(quorum_owners: Any = THREE) -> str:
    with_preparer = ((PREPARER, PREPARER_SEED), (OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED))
    return (
        governance_yaml()
        + lane_yaml(QUORUM_LANE, owners=quorum_owners, quorum=2)
        + lane_yaml(SHARED_LANE, owners=with_preparer, quorum=2)
    )


@pytest.fixture(scope="module")
def governance_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gov") / "lanes.yaml"
    path.write_text(governance())
    return path


START = now()


def by(pkt: dict[str, Any], who: str, seed: bytes) -> dict[str, Any]:
    """A version-2 approval on the terms every approval of these tests shares."""
    return approval(pkt, approver=who, seed=seed, valid_from=START, signed_at=format_time(now()))


async def counted(bus: Bus, decision: dict[str, Any]) -> dict[str, Any]:
    event_id = await bus.send("approval-decision", decision)
    name = f"{mid(decision['packet_id'])}:counted:{event_id}"
    return dict((await bus.wait_for("packet-lifecycle", name))[0]["data"])


def manifests(bus: Bus, pid: str) -> list[Any]:
    return bus.matching("release-manifest", lambda e: e["data"]["packet_id"] == pid)


async def test_one_owner_signing_twice_is_counted_once_and_releases_nothing(bus: Bus) -> None:
    pkt = packet(new_id("RP"), 1, QUORUM_LANE)
    await ready(bus, pkt)
    assert (await counted(bus, by(pkt, OWNER, OWNER_SEED)))["approvals"]["counted"] == 1
    refusal = await refused(bus, by(pkt, OWNER, OWNER_SEED))
    assert refusal["reason"] == "approver-already-counted"
    assert manifests(bus, pkt["packet_id"]) == []


async def test_the_preparer_cannot_be_the_second_owner_of_their_own_packet(bus: Bus) -> None:
    pkt = packet(new_id("RP"), 1, SHARED_LANE, prepared_by=PREPARER)
    await ready(bus, pkt)
    await counted(bus, by(pkt, OWNER, OWNER_SEED))
    refusal = await refused(bus, by(pkt, PREPARER, PREPARER_SEED))
    assert refusal["reason"] == "self-approval"
    assert manifests(bus, pkt["packet_id"]) == []


async def test_an_owner_removed_between_the_approvals_no_longer_counts(
    bus: Bus, service: ServiceProcess, governance_file: Path
) -> None:
    pkt = packet(new_id("RP"), 1, QUORUM_LANE)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    await counted(bus, by(pkt, SECOND_OWNER, SECOND_SEED))
    remaining = ((OWNER, OWNER_SEED), (THIRD_OWNER, THIRD_SEED))
    await rewrite(service, governance_file, governance(remaining), "applied")
    after = await counted(bus, by(pkt, OWNER, OWNER_SEED))
    assert after["approvals"] == {"counted": 1, "required": 2}
    assert f"{SECOND_OWNER}'s approval no longer counts" in after["detail"]
    assert manifests(bus, pid) == []
    await bus.send("approval-decision", by(pkt, THIRD_OWNER, THIRD_SEED))
    [manifest] = await bus.wait_for("release-manifest", f"{mid(pid)}:released")
    assert [a["approver"] for a in manifest["data"]["approvals"]] == [OWNER, THIRD_OWNER]
