"""Forward attacks: a recipient that only looks like an approved one never receives anything.

Identities are compared exactly (docs/contract.md). Every forward-request that names a packet
is a redistribution attempt: a look-alike recipient, well-formed or not (whitespace, another
case, an invisible or a homoglyph character, an empty string), is outside the audience, so
the request is blocked whole, listed as sent (control characters escaped) and audited as a
forward-blocked fact. Nothing is forwarded, and a good request on the same key is still
allowed afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.security.attacks import (
    audited,
    marked_packet,
    produce,
    raw_event,
    ready,
)
from tests.support.builders import approval, forward, new_id
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

Packet = dict[str, Any]

# name -> (recipient as sent, as the blocked-forward lists it)
MALFORMED = {
    "leading space": (" exec:cro", " exec:cro"),
    "upper-case identity": ("EXEC:CRO", "EXEC:CRO"),
    "trailing tab": ("exec:cro\t", "exec:cro\\u0009"),
    "trailing space": ("exec:cro ", "exec:cro "),
    "empty string": ("", ""),
    "leading no-break space": ("\u00a0exec:cro", "\u00a0exec:cro"),
    "ideographic space": ("exec:cro\u3000", "exec:cro\u3000"),
    "line separator": ("exec:cro\u2028", "exec:cro\u2028"),
}
BLOCKED_BY_THE_GATE = {
    "upper case after the scheme": "exec:CRO",
    "zero-width space": "exec:cro\u200b",
    "byte-order mark": "exec:cro\ufeff",
    "Cyrillic o": "exec:cr\u043e",
    "fullwidth letters": "exec:\uff43\uff52\uff4f",
}


@pytest.fixture(scope="module")
async def released(bus: Bus) -> AsyncIterator[Packet]:
    """One revision released to exec:cro and exec:general-counsel."""
    pkt = marked_packet(new_id("RP"))
    await ready(bus, pkt)
    await bus.send("approval-decision", approval(pkt), event_id=new_id("evt"))
    await bus.wait_for("release-manifest", f"{pkt['packet_id']}@r1:released")
    yield pkt


async def _still_forwarding(bus: Bus, pkt: Packet, partition: int) -> None:
    """A good request behind the attack, on the same key and partition, is allowed."""
    good = forward(pkt, ["exec:cro"])
    pid = pkt["packet_id"]
    where = await produce(bus, "forward-request", raw_event("forward-request", good, pid), pid)
    assert where.partition == partition
    await bus.wait_for("forward-allowed", f"{good['request_id']}:allowed")


def _forwarded(bus: Bus, request_id: str) -> list[Any]:
    return bus.matching("forward-allowed", lambda e: e["data"]["request_id"] == request_id)


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_a_malformed_recipient_is_blocked_whole_listed_as_sent_and_audited(
    name: str, bus: Bus, service: ServiceProcess, released: Packet
) -> None:
    pid, (sent, shown) = released["packet_id"], MALFORMED[name]
    request = forward(released, ["exec:general-counsel", sent])
    event_id = new_id("evt")
    where = await produce(
        bus, "forward-request", raw_event("forward-request", request, pid, event_id), pid
    )
    [blocked] = await bus.wait_for("blocked-forward", f"{request['request_id']}:blocked")
    assert blocked["data"]["reason"] == "outside-audience"
    assert blocked["data"]["blocked_recipients"] == [shown]
    assert blocked["data"]["recipients"] == ["exec:general-counsel", shown]
    fact = await audited(service, pid, event_id, "forward-blocked", "outside-audience")
    assert fact["data"]["blocked_recipients"] == [shown]
    await _still_forwarding(bus, released, where.partition)
    assert _forwarded(bus, request["request_id"]) == []


async def test_ten_thousand_recipients_are_blocked_with_the_limit_named_and_audited(
    bus: Bus, service: ServiceProcess, released: Packet
) -> None:
    pid = released["packet_id"]
    request = forward(released, [f"exec:r{i}" for i in range(10_000)])
    event_id = new_id("evt")
    where = await produce(
        bus, "forward-request", raw_event("forward-request", request, pid, event_id), pid
    )
    [blocked] = await bus.wait_for("blocked-forward", f"{request['request_id']}:blocked")
    assert blocked["data"]["reason"] == "outside-audience"
    assert "10000 recipients, over the limit of 50" in blocked["data"]["detail"]
    assert blocked["data"]["recipients"] == [f"exec:r{i}" for i in range(50)]
    await audited(service, pid, event_id, "forward-blocked", "outside-audience")
    await _still_forwarding(bus, released, where.partition)
    assert _forwarded(bus, request["request_id"]) == []


@pytest.mark.parametrize("name", list(BLOCKED_BY_THE_GATE))
async def test_a_look_alike_recipient_the_contract_accepts_is_blocked_whole_and_audited(
    name: str, bus: Bus, service: ServiceProcess, released: Packet
) -> None:
    pid, look_alike = released["packet_id"], BLOCKED_BY_THE_GATE[name]
    request = forward(released, ["exec:general-counsel", look_alike])
    event_id = new_id("evt")
    value = raw_event("forward-request", request, pid, event_id)
    where = await produce(bus, "forward-request", value, pid)
    [blocked] = await bus.wait_for("blocked-forward", f"{request['request_id']}:blocked")
    assert blocked["data"]["reason"] == "outside-audience"
    assert blocked["data"]["blocked_recipients"] == [look_alike]
    fact = await audited(service, pid, event_id, "forward-blocked", "outside-audience")
    assert fact["data"]["blocked_recipients"] == [look_alike]

    await _still_forwarding(bus, released, where.partition)
    assert _forwarded(bus, request["request_id"]) == []


async def test_a_revision_whose_approval_was_refused_cannot_be_forwarded(
    bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    pkt = marked_packet(new_id("RP"))
    pid = pkt["packet_id"]
    attacked.add(pid)
    await ready(bus, pkt)
    forged = {**approval(pkt), "audience": ["exec:cro", "exec:vp-support"]}
    await bus.send("approval-decision", forged, event_id=new_id("evt"))
    await bus.wait_for(
        "packet-lifecycle",
        lambda e: e["data"]["packet_id"] == pid and e["data"]["reason"] == "bad-signature",
    )
    request = forward(pkt, ["exec:cro"])
    event_id = new_id("evt")
    await bus.send("forward-request", request, event_id=event_id)
    [blocked] = await bus.wait_for("blocked-forward", f"{request['request_id']}:blocked")
    assert blocked["data"]["reason"] == "not-released"
    await audited(service, pid, event_id, "forward-blocked", "not-released")
    assert _forwarded(bus, request["request_id"]) == []
