"""Quorum approvals and revocation against the real service (schema version 2 on the wire).

QUORUM_LANE needs two of its three owners on identical terms; any owner of a lane may revoke
an approved or released revision, after which every forward is blocked."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.domain.times import format_time
from tests.e2e.steps import (
    blocked,
    conforming,
    lifecycle_event,
    mid,
    ready,
    ready_and_released,
    refused,
    sample,
    settled,
)
from tests.support.builders import (
    OWNER,
    OWNER_SEED,
    QUORUM_LANE,
    SECOND_OWNER,
    SECOND_SEED,
    THIRD_OWNER,
    THIRD_SEED,
    approval,
    forward,
    new_id,
    now,
    packet,
    quorum_governance_yaml,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


@pytest.fixture(scope="module")
def governance_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gov") / "lanes.yaml"
    path.write_text(quorum_governance_yaml())
    return path


START = now() - timedelta(seconds=5)
WINDOW = {"valid_from": START, "valid_until": START + timedelta(days=2)}


def signed(pkt: dict[str, Any], who: str, seed: bytes, **terms: Any) -> dict[str, Any]:
    """A version-2 decision (its signing time inside the signed bytes) on WINDOW's terms."""
    return approval(pkt, approver=who, seed=seed, signed_at=format_time(now()), **WINDOW, **terms)


async def test_a_two_of_three_lane_releases_on_two_owners_and_refuses_other_terms(
    bus: Bus,
) -> None:
    pkt = packet(new_id("RP"), 1, QUORUM_LANE)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    first = signed(pkt, OWNER, OWNER_SEED)
    event_id = await bus.send("approval-decision", first)
    [counted] = await bus.wait_for("packet-lifecycle", f"{mid(pid)}:counted:{event_id}")
    assert counted["schemaversion"] == 2
    assert counted["data"]["approvals"] == {"counted": 1, "required": 2}
    narrower = signed(pkt, THIRD_OWNER, THIRD_SEED, audience=["exec:cro"])
    refusal = await refused(bus, narrower)
    assert (refusal["from_state"], refusal["reason"]) == ("pending", "terms-differ")
    assert "audience differs" in refusal["detail"]
    second = signed(pkt, SECOND_OWNER, SECOND_SEED)
    await bus.send("approval-decision", second)
    [manifest] = await bus.wait_for("release-manifest", f"{mid(pid)}:released")
    assert manifest["schemaversion"] == 2
    data = manifest["data"]
    assert data["approvals_required"] == 2
    assert [a["approver"] for a in data["approvals"]] == [OWNER, SECOND_OWNER]
    assert [a["signed_at"] for a in data["approvals"]] == [first["signed_at"], second["signed_at"]]
    assert conforming(bus) == []


async def test_a_revoked_release_ends_for_routing_and_blocks_every_later_forward(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = await ready_and_released(bus)
    pid = pkt["packet_id"]
    revocation = approval(
        pkt,
        "revoke",
        SECOND_OWNER,
        SECOND_SEED,
        signed_at=format_time(now()),
        reason="wrong credit",
    )
    await bus.send("approval-decision", revocation)
    ended = await lifecycle_event(bus, pid, 1, "rejected")
    assert (ended["from_state"], ended["reason"]) == ("released", "revoked-by-owner")
    assert "wrong credit" in ended["detail"]
    outcome = await blocked(bus, forward(pkt, ["exec:cro"]))
    assert outcome["reason"] == "revoked-by-owner"
    revoked = sample(
        "release_gate_transitions_total",
        from_state="released",
        to_state="rejected",
        reason="revoked-by-owner",
    )
    await settled(service, {revoked: 1.0})
    again = approval(pkt, "revoke", OWNER, OWNER_SEED, signed_at=format_time(now()), reason="x")
    refusal = await refused(bus, again)
    assert refusal["reason"] == "not-revocable"
    assert conforming(bus) == []
