"""review-feedback: a reviewer's correction of a released packet, counted and audited."""

from __future__ import annotations

from typing import Any

from service.contract.decode import Inbound
from service.domain.canonical import parse_manifest_id
from service.domain.commands import EvidenceVersion, FeedbackReceived, Origin


def review_feedback(
    inbound: Inbound[Any], _: dict[tuple[str, str], EvidenceVersion], origin: Origin
) -> tuple[str, FeedbackReceived]:
    data = inbound.raw_data
    parsed = parse_manifest_id(str(data["manifest_id"]))
    packet_id = parsed[0] if parsed else str(data["manifest_id"])
    # The record's place and bytes travel along: a feedback held for its manifest is
    # dead-lettered from them if the manifest never comes (service/domain/parking.py).
    return packet_id, FeedbackReceived(inbound.event.id, data, origin)
