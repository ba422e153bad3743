"""forward-request: allow or block (and audit) sending a released packet on."""

from __future__ import annotations

from typing import Any

from service.contract.decode import Inbound
from service.domain.commands import EvidenceVersion, ForwardRequested, Origin


def forward_request(
    inbound: Inbound[Any], _: dict[tuple[str, str], EvidenceVersion], _origin: Origin
) -> tuple[str, ForwardRequested]:
    data = inbound.raw_data
    return data["packet_id"], ForwardRequested(inbound.event.id, data)
