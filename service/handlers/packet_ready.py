"""packet-ready: store a new immutable revision (or recognise a duplicate or conflict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.contract.decode import Inbound
from service.domain.commands import EvidenceVersion, Origin, PacketReady

Evidence = Mapping[tuple[str, str], EvidenceVersion]


def cited(inbound: Inbound[Any]) -> list[tuple[str, str]]:
    return [(ref["kind"], ref["ref"]) for ref in inbound.raw_data["evidence_refs"]]


def packet_ready(inbound: Inbound[Any], evidence: Evidence, _: Origin) -> tuple[str, PacketReady]:
    data = inbound.raw_data
    known = {key: evidence[key] for key in cited(inbound) if key in evidence}
    return data["packet_id"], PacketReady(inbound.event.id, data, known)
