"""Over-size input against a service with MAX_MESSAGE_BYTES=65536: refused as too-large
before it is parsed, never truncated, and the consumer goes on behind it on the same key.
"""

from __future__ import annotations

from typing import Any

from tests.security.attacks import (
    BODY_MARKER,
    TIGHT_LIMIT,
    audit,
    dead_lettered,
    manifests_of,
    marked_packet,
    raw_event,
    ready,
    rejected_by_owner,
)
from tests.support.builders import approval, new_id
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

HUNDRED_KIB = 100 * 1024


def _packet_of_size(packet_id: str, size: int, event_id: str) -> tuple[dict[str, Any], bytes]:
    """A valid packet-ready (real hashes) padded in its body to exactly `size` bytes."""

    def build(pad: int) -> tuple[dict[str, Any], bytes]:
        body = {"customer": "Northwind", "secret_note": BODY_MARKER, "appendix": "p" * pad}
        pkt = marked_packet(packet_id, body=body)
        return pkt, raw_event("packet-ready", pkt, packet_id, event_id)

    _, bare = build(0)
    pkt, value = build(size - len(bare))
    assert len(value) == size
    return pkt, value


async def test_a_100_kib_packet_is_too_large_and_the_next_packet_is_processed(
    tight_bus: Bus, tight_service: ServiceProcess, attacked: set[str]
) -> None:
    pid = new_id("RP")
    attacked.add(pid)
    _, value = _packet_of_size(pid, HUNDRED_KIB, new_id("evt"))

    where, _ = await dead_lettered(
        tight_bus,
        "packet-ready",
        value,
        pid,
        "too-large",
        f"message is {HUNDRED_KIB} bytes, at most {TIGHT_LIMIT}",
    )

    pkt = marked_packet(pid)
    assert (await ready(tight_bus, pkt)).partition == where.partition
    [created] = await audit(tight_service, pid)
    assert created["data"]["packet"]["packet_hash"] == pkt["packet_hash"]


async def test_the_limit_is_exact_one_byte_more_is_too_large(
    tight_bus: Bus, attacked: set[str]
) -> None:
    over = new_id("RP")
    attacked.add(over)
    _, value = _packet_of_size(over, TIGHT_LIMIT + 1, new_id("evt"))
    await dead_lettered(tight_bus, "packet-ready", value, over, "too-large", f"{TIGHT_LIMIT + 1}")

    at_limit = new_id("RP")
    attacked.add(at_limit)
    _, value = _packet_of_size(at_limit, TIGHT_LIMIT, new_id("evt"))
    await tight_bus.send_raw("packet-ready", value, key=at_limit)
    await tight_bus.wait_for("packet-lifecycle", f"{at_limit}@r1:lifecycle:pending")


async def test_a_valid_approval_padded_to_100_kib_approves_nothing(
    tight_bus: Bus, tight_service: ServiceProcess, attacked: set[str]
) -> None:
    pkt = marked_packet(new_id("RP"))
    pid = pkt["packet_id"]
    attacked.add(pid)
    await ready(tight_bus, pkt)
    # Correctly signed; only an ignored extension attribute makes it over-size.
    signed = approval(pkt)
    value = raw_event("approval-decision", signed, pid, padding="p" * HUNDRED_KIB)

    where, _ = await dead_lettered(
        tight_bus, "approval-decision", value, pid, "too-large", f"at most {TIGHT_LIMIT}"
    )

    assert (await rejected_by_owner(tight_bus, pkt)).partition == where.partition
    assert [f["kind"] for f in await audit(tight_service, pid)] == ["created", "rejected"]
    assert manifests_of(tight_bus, pid) == []


async def test_deep_nesting_beyond_the_size_limit_is_too_large_before_it_is_parsed(
    tight_bus: Bus, attacked: set[str]
) -> None:
    pkt = marked_packet(new_id("RP"))
    pid = pkt["packet_id"]
    attacked.add(pid)
    value = b"[" * 100_000 + b"]" * 100_000
    where, _ = await dead_lettered(tight_bus, "packet-ready", value, pid, "too-large", "200000")
    assert (await ready(tight_bus, pkt)).partition == where.partition
