"""forward-request: allow or block (and audit) sending a released packet on."""

from __future__ import annotations

from typing import Any

from service.contract.decode import Inbound
from service.domain.commands import ForwardRequested
from service.domain.decide import Decision
from service.runtime import Runtime


async def on_forward_request(inbound: Inbound[Any], rt: Runtime) -> Decision:
    data = inbound.raw_data
    return await rt.gate.run(data["packet_id"], ForwardRequested(inbound.event.id, data))
