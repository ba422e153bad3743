"""What a signed-in owner or auditor sees of a packet: revisions, states, facts, chain."""

from __future__ import annotations

from typing import Any

from service.domain.canonical import manifest_id
from service.domain.facts import group_by_revision, verify_chain
from service.domain.revision import fold_packet
from service.domain.times import format_time
from service.gate.context import GateContext


async def packet_view(rt: GateContext, packet_id: str) -> dict[str, Any] | None:
    facts = await rt.store.load_packet(packet_id)
    if not facts:
        return None
    packet = fold_packet(packet_id, facts)
    logs = group_by_revision(facts)
    revisions: list[dict[str, Any]] = []
    for number, rev in sorted(packet.items()):
        broken = verify_chain(logs[number])
        due = rev.next_due()
        revisions.append(
            {
                "revision": number,
                "manifest_id": manifest_id(packet_id, number),
                "lane_id": rev.lane_id,
                "state": None if rev.state is None else rev.state.value,
                "next_due": None if due is None else format_time(due),
                "chain": "ok" if broken is None else f"broken at {broken}",
                "facts": [f.to_json() for f in logs[number]],
            }
        )
    lanes = sorted({rev.lane_id for rev in packet.values() if rev.lane_id is not None})
    return {"packet_id": packet_id, "lanes": lanes, "revisions": revisions}
