"""approval-decision: a release owner's signed decision on one revision."""

from __future__ import annotations

from typing import Any

from service.contract.decode import Inbound
from service.domain.commands import ApprovalDecided
from service.domain.decide import Decision
from service.runtime import Runtime


async def on_approval_decision(inbound: Inbound[Any], rt: Runtime) -> Decision:
    data = inbound.raw_data
    return await rt.gate.run(data["packet_id"], ApprovalDecided(inbound.event.id, data))
