"""The audit view and verifier, and restarts (SIGKILL and graceful) that lose nothing."""

import re
from datetime import timedelta

import pytest

from service.domain.times import parse_time
from tests.e2e.steps import (
    conforming,
    distinct,
    lifecycle_event,
    marker,
    of_packet,
    only_one,
    packet_view,
    ready,
    released,
    sample,
    settled,
    transitions,
)
from tests.support.builders import approval, forward, new_id, now, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    # After a SIGKILL the group waits out the dead members' sessions before it rebalances:
    # the broker's minimum (6 s) instead of the default 10 s keeps the restarts quick.
    return {"SESSION_TIMEOUT_MS": "6000"}


async def test_the_packet_view_shows_every_revision_its_state_and_its_hash_chained_facts(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    second, first, third = packet(pid, 2), packet(pid, 1), packet(pid, 3)
    ready_id = await bus.send("packet-ready", second)
    await bus.wait_for("packet-lifecycle", f"{pid}@r2:lifecycle:pending")
    await bus.send("packet-ready", first)  # out of order
    await lifecycle_event(bus, pid, 1, "superseded")
    await ready(bus, third)
    await lifecycle_event(bus, pid, 2, "superseded")
    await released(bus, third)

    view = await packet_view(service, pid)
    assert view["packet_id"] == pid
    assert [(r["revision"], r["state"]) for r in view["revisions"]] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "released"),
    ]
    kinds = {r["revision"]: [f["kind"] for f in r["facts"]] for r in view["revisions"]}
    assert kinds == {
        1: ["created"],
        2: ["created", "superseded"],
        3: ["created", "approved", "released"],
    }
    for rev in view["revisions"]:
        assert rev["manifest_id"] == f"{pid}@r{rev['revision']}"
        assert rev["chain"] == "ok"
        previous = None
        for seq, fact in enumerate(rev["facts"], start=1):
            assert fact["id"] == f"{pid}@r{rev['revision']}/{seq}"
            assert fact["seq"] == seq
            assert HASH.match(fact["hash"])
            assert fact["prev_hash"] == previous
            previous = fact["hash"]
    r2 = view["revisions"][1]
    assert r2["facts"][0]["cause_event_id"] == ready_id
    assert r2["facts"][0]["data"]["packet"]["packet_hash"] == second["packet_hash"]
    assert r2["facts"][1]["reason"] == "newer-revision"
    released_fact = view["revisions"][2]["facts"][2]
    assert HASH.match(released_fact["data"]["manifest"]["manifest_hash"])
    assert released_fact["data"]["manifest"]["supersedes"] == [1, 2]
    assert view["revisions"][2]["next_due"] is not None  # its valid_until


async def test_the_packet_view_of_an_unknown_packet_is_404(service: ServiceProcess) -> None:
    response = await service.get(f"/packets/{new_id('RP')}")
    assert response.status_code == 404
    assert "error" in response.json()


async def test_audit_verify_exits_0_and_says_ok_when_every_chain_holds(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    await released(bus, pkt)
    result = service.cli("audit", "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


async def test_a_sigkill_between_packet_ready_and_approval_loses_nothing(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    await service.kill()
    await service.start()
    await released(bus, pkt)
    request = forward(pkt, ["exec:cro"])
    await bus.send("forward-request", request)
    await bus.wait_for("forward-allowed", f"{request['request_id']}:allowed")
    await marker(bus, "approval-decision", key=pid)
    only_one(bus, "release-manifest", f"{pid}@r1:released")
    assert len(distinct(bus, "release-manifest", of_packet(pid))) == 1
    await lifecycle_event(bus, pid, 1, "released")  # another topic: it may come later
    assert transitions(bus, pid, 1) == [
        (None, "pending", "packet-ready"),
        ("pending", "approved", "approved"),
        ("approved", "released", "released"),
    ]
    view = await packet_view(service, pid)
    assert [f["kind"] for f in view["revisions"][0]["facts"]] == [
        "created",
        "approved",
        "released",
        "forward-allowed",
    ]


async def test_a_sigkill_between_approval_and_valid_from_still_releases_once(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    start = now() + timedelta(seconds=2)
    await bus.send("approval-decision", approval(pkt, valid_from=start))
    await lifecycle_event(bus, pid, 1, "approved")
    await service.kill()
    await service.start()
    manifest = (await bus.wait_for("release-manifest", f"{pid}@r1:released"))[0]
    assert start <= parse_time(manifest["data"]["released_at"])
    await marker(bus, "approval-decision", key=pid)
    only_one(bus, "release-manifest", f"{pid}@r1:released")
    assert len(distinct(bus, "release-manifest", of_packet(pid))) == 1
    [rev] = (await packet_view(service, pid))["revisions"]
    assert [f["kind"] for f in rev["facts"]] == ["created", "approved", "released"]


async def test_a_graceful_stop_and_start_loses_nothing(bus: Bus, service: ServiceProcess) -> None:
    pkt = packet(new_id("RP"), 1)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    await service.stop()
    await service.start()
    await released(bus, pkt)
    await marker(bus, "approval-decision", key=pid)
    assert len(distinct(bus, "release-manifest", of_packet(pid))) == 1
    only_one(bus, "release-manifest", f"{pid}@r1:released")
    [rev] = (await packet_view(service, pid))["revisions"]
    assert [f["kind"] for f in rev["facts"]] == ["created", "approved", "released"]
    result = service.cli("audit", "verify")
    assert result.returncode == 0, result.stderr


async def test_rebuild_projections_recounts_the_states_that_the_gauge_then_shows(
    bus: Bus, service: ServiceProcess
) -> None:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    await released(bus, pkt)
    await service.stop()
    result = service.cli("rebuild-projections")
    await service.start()
    assert result.returncode == 0, result.stderr
    said = dict(re.findall(r"(\w+) (\d+)", result.stdout.split("by state: ", 1)[1]))
    assert int(said["released"]) >= 1, result.stdout
    expected = {sample("release_gate_revisions", state=s): float(n) for s, n in said.items()}
    await settled(service, expected)


async def test_every_output_event_of_this_module_matches_its_published_schema(bus: Bus) -> None:
    assert bus.seen, "the module produced output"
    assert conforming(bus) == []
