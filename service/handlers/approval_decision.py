"""approval-decision: a release owner's signed decision on one revision."""

from __future__ import annotations

from typing import Any

from service.contract.decode import Inbound
from service.domain.commands import ApprovalDecided, EvidenceVersion, Origin


def approval_decision(
    inbound: Inbound[Any], _: dict[tuple[str, str], EvidenceVersion], _origin: Origin
) -> tuple[str, ApprovalDecided]:
    data = inbound.raw_data
    return data["packet_id"], ApprovalDecided(inbound.event.id, data)
