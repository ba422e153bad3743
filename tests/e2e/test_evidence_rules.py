"""Evidence changes (docs/contract.md): stale citations and a lane's audience scope supersede."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.steps import (
    blocked,
    lifecycle_event,
    marker,
    ready,
    released,
    states,
    transitions,
)
from tests.support.builders import (
    approval,
    evidence_changed,
    forward,
    governance_yaml,
    lane_yaml,
    new_id,
    now,
    packet,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

# A lane of its own for the audience-scope change, which touches every live revision of it.
SCOPE_LANE = "exec-scope-review"


@pytest.fixture(scope="module")
def governance_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gov") / "lanes.yaml"
    path.write_text(governance_yaml() + lane_yaml(SCOPE_LANE))
    return path


def citing(pid: str, impact: str, version: str, lane: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"impact": (impact, version)}
    if lane:
        kwargs["lane"] = lane
    return packet(pid, 1, **kwargs)


async def test_a_changed_citation_supersedes_pending_and_released_revisions_citing_another_version(
    bus: Bus, service: ServiceProcess
) -> None:
    impact = new_id("INC")
    pending = citing(new_id("RP"), impact, "7")
    live = citing(new_id("RP"), impact, "7")
    current = citing(new_id("RP"), impact, "8")
    for pkt in (pending, live, current):
        await ready(bus, pkt)
    await released(bus, live)
    key = f"incident-impact:{impact}"
    await bus.send("evidence-changed", evidence_changed("incident-impact", impact, "8"))
    was_pending = await lifecycle_event(bus, pending["packet_id"], 1, "superseded")
    assert (was_pending["from_state"], was_pending["reason"]) == ("pending", "evidence-changed")
    assert was_pending["detail"] == f"incident-impact {impact} 7 -> 8"
    was_released = await lifecycle_event(bus, live["packet_id"], 1, "superseded")
    assert (was_released["from_state"], was_released["reason"]) == ("released", "evidence-changed")
    await marker(bus, "evidence-changed", key=key)
    assert transitions(bus, current["packet_id"], 1) == [(None, "pending", "packet-ready")]
    assert (await states(service, current["packet_id"])) == {1: "pending"}
    assert (await blocked(bus, forward(live, ["exec:cro"])))["reason"] == "superseded"
    await released(bus, current)  # the revision citing the new version is still good


async def test_a_change_of_evidence_nobody_cites_touches_nothing(bus: Bus) -> None:
    pkt = citing(new_id("RP"), new_id("INC"), "7")
    await ready(bus, pkt)
    other = new_id("INC")
    await bus.send("evidence-changed", evidence_changed("incident-impact", other, "2"))
    await marker(bus, "evidence-changed", key=f"incident-impact:{other}")
    assert transitions(bus, pkt["packet_id"], 1) == [(None, "pending", "packet-ready")]


async def test_an_audience_scope_change_supersedes_every_live_revision_of_the_lane(
    bus: Bus, service: ServiceProcess
) -> None:
    pending = packet(new_id("RP"), 1, lane=SCOPE_LANE)
    live = packet(new_id("RP"), 1, lane=SCOPE_LANE)
    approved = packet(new_id("RP"), 1, lane=SCOPE_LANE)
    rejected = packet(new_id("RP"), 1, lane=SCOPE_LANE)
    elsewhere = packet(new_id("RP"), 1)
    for pkt in (pending, live, approved, rejected, elsewhere):
        await ready(bus, pkt)
    await released(bus, live)
    await bus.send("approval-decision", approval(approved, valid_from=now() + timedelta(hours=1)))
    await lifecycle_event(bus, approved["packet_id"], 1, "approved")
    await bus.send("approval-decision", approval(rejected, decision="reject"))
    await lifecycle_event(bus, rejected["packet_id"], 1, "rejected")

    await bus.send("evidence-changed", evidence_changed("audience-scope", SCOPE_LANE, "2"))
    for pkt, was in ((pending, "pending"), (live, "released"), (approved, "approved")):
        change = await lifecycle_event(bus, pkt["packet_id"], 1, "superseded")
        assert (change["from_state"], change["reason"]) == (was, "evidence-changed")
        assert SCOPE_LANE in change["detail"]
    await marker(bus, "evidence-changed", key=f"audience-scope:{SCOPE_LANE}")
    assert (await states(service, rejected["packet_id"])) == {1: "rejected"}
    assert (await states(service, elsewhere["packet_id"])) == {1: "pending"}
    assert (await blocked(bus, forward(live, ["exec:cro"])))["reason"] == "superseded"

    # A revision of the lane stored after the change is reviewed under the new scope.
    after = packet(new_id("RP"), 1, lane=SCOPE_LANE)
    await ready(bus, after)
    await released(bus, after)
