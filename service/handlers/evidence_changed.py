"""evidence-changed: supersede every live revision that cites the changed evidence."""

from __future__ import annotations

from typing import Any

from service.contract.decode import Inbound
from service.domain.commands import EvidenceChanged, EvidenceVersion
from service.domain.decide import Decision
from service.domain.facts import Fact
from service.gate.context import GateContext


async def on_evidence_changed(inbound: Inbound[Any], rt: GateContext) -> Decision:
    data = inbound.raw_data
    kind, ref = data["kind"], data["ref"]
    version = EvidenceVersion(str(data["new_version"]), inbound.event.id)
    # Record first, then look for citing revisions: a revision stored meanwhile sees this
    # record on its own (see packet_ready), so neither order loses a supersession.
    record = await rt.store.record_evidence(kind, ref, version, rt.clock())
    if record.step(inbound.event.id) == "stale":
        return Decision(outcome="duplicate")  # a replay of a change already overtaken
    if kind == "audience-scope":
        packets = await rt.store.packets_in_lane(ref)
    else:
        packets = await rt.store.packets_citing(kind, ref)
    command = EvidenceChanged(inbound.event.id, data, as_of=record.as_of)
    facts: list[Fact] = []
    for packet_id in packets:
        decision = await rt.gate.decide_one(packet_id, command)
        facts.extend(decision.facts)
    return Decision(tuple(facts), "applied" if facts else "duplicate")
