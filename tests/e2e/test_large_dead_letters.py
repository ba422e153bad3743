"""A bad message near the size limit is dead-lettered whole and does not stop its partition.

This module runs the service with its default MAX_MESSAGE_BYTES (1 MiB, the broker's
message.max.bytes too). A dead letter carries the raw value base64-encoded, a third larger
than the message itself, so a bad message of 800 KB makes a dead-letter record over 1 MiB.
"""

from tests.e2e.steps import dead_letter, raw_bytes
from tests.support.builders import new_id, packet
from tests.support.bus import Bus

SIZE = 800_000  # under the service's 1 MiB limit, so not too-large: plain invalid JSON


async def test_an_800_kb_invalid_message_is_dead_lettered_whole_and_the_next_one_processed(
    bus: Bus,
) -> None:
    pid = new_id("RP")
    raw = b"[" * 16 + b"x" * (SIZE - 16)
    await bus.send_raw("packet-ready", raw, key=pid)
    await bus.send("packet-ready", packet(pid, 1), key=pid)
    dead = await dead_letter(bus, pid, "invalid-json")
    assert raw_bytes(dead) == raw
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:pending")


async def test_a_300_kb_invalid_message_is_dead_lettered_whole(bus: Bus) -> None:
    """The control case: the dead-letter record (about 400 KB) fits under the broker's limit."""
    key = new_id("K")
    raw = b"{" + b" " * 300_000
    await bus.send_raw("forward-request", raw, key=key)
    dead = await dead_letter(bus, key, "invalid-json")
    assert raw_bytes(dead) == raw
