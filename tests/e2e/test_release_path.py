"""The main path through the running service: ready, approve, release, forward, demo."""

import asyncio

from tests.support.builders import approval, forward, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


async def test_an_approved_revision_is_released_with_its_blocked_requests_verbatim(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    pkt = packet(pid, 1)
    await bus.send("packet-ready", pkt)
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:pending")
    await bus.send("approval-decision", approval(pkt))
    manifest = (await bus.wait_for("release-manifest", f"{pid}@r1:released"))[0]
    assert manifest["data"]["blocked_requests"] == pkt["blocked_requests"]
    assert manifest["data"]["options"] == pkt["options"]
    assert manifest["data"]["packet_hash"] == pkt["packet_hash"]
    view = (await service.get(f"/packets/{pid}")).json()
    assert view["revisions"][0]["state"] == "released"
    assert view["revisions"][0]["chain"] == "ok"


async def test_a_forward_inside_the_audience_is_allowed_and_one_outside_blocked_whole(
    bus: Bus,
) -> None:
    pid = new_id("RP")
    pkt = packet(pid, 1)
    await bus.send("packet-ready", pkt)
    # Topics are consumed independently: an approval racing ahead of its packet-ready would
    # rightly be refused (unknown-revision), so the revision must be stored first.
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:pending")
    await bus.send("approval-decision", approval(pkt))
    await bus.wait_for("release-manifest", f"{pid}@r1:released")
    inside = forward(pkt, ["exec:general-counsel"])
    outside = forward(pkt, ["exec:general-counsel", "user:someone@partner"])
    await bus.send("forward-request", inside)
    await bus.send("forward-request", outside)
    await bus.wait_for("forward-allowed", f"{inside['request_id']}:allowed")
    blocked = (await bus.wait_for("blocked-forward", f"{outside['request_id']}:blocked"))[0]
    assert blocked["data"]["reason"] == "outside-audience"
    assert blocked["data"]["blocked_recipients"] == ["user:someone@partner"]


async def test_a_malformed_message_is_dead_lettered_and_the_next_good_one_processed(
    bus: Bus,
) -> None:
    pid = new_id("RP")
    await bus.send_raw("packet-ready", b"\xff not json", key=pid)
    await bus.send("packet-ready", packet(pid, 1))
    dead = (
        await bus.wait_for(
            "dead-letter",
            lambda e: e["data"]["key"] == pid and e["data"]["error_kind"] == "invalid-json",
        )
    )[0]
    assert dead["data"]["source_topic"] == "packet-ready"
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:pending")


async def test_the_demo_command_plays_the_seed_scenario_end_to_end(service: ServiceProcess) -> None:
    result = await asyncio.to_thread(service.cli, "demo")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "reason: bad-signature" in out
    assert "blocked requests kept visible: ['multi-quarter-fee-holiday'" in out
    assert "reason: outside-audience" in out
    assert "blocked_recipients: ['user:someone@partner']" in out
