"""packet-ready: store a new immutable revision (or recognise a duplicate or conflict)."""

from __future__ import annotations

from typing import Any

from service.contract.decode import Inbound
from service.domain.commands import PacketReady
from service.domain.decide import Decision
from service.runtime import Runtime


async def on_packet_ready(inbound: Inbound[Any], rt: Runtime) -> Decision:
    data = inbound.raw_data
    cited = [(ref["kind"], ref["ref"]) for ref in data["evidence_refs"]]
    evidence = await rt.store.evidence_versions(cited)
    decision = await rt.gate.run(data["packet_id"], PacketReady(inbound.event.id, data, evidence))
    # An evidence change recorded while this revision was being stored may have missed its
    # projection: look again now that the revision is visible, and converge.
    again = await rt.store.evidence_versions(cited)
    if again != evidence:
        await rt.gate.run(data["packet_id"], PacketReady(inbound.event.id, data, again))
    return decision
