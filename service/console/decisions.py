"""The console's one route that publishes to Kafka: a decision the owner signed in the page.

The server checks who sends it (the session's identity, the session's key, a lane the
session owns) and what the form cannot express (audience inside the lane, a window no
longer than the lane allows); everything else is the gate's to decide, audited there like
any approval-decision: a stale page's approval is refused not-pending by the gate itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from service.console.sessions import Session, fingerprint
from service.contract.envelope import make_event
from service.contract.payloads import ApprovalDecisionData
from service.contract.version2 import ApprovalDecisionDataV2
from service.domain.governance import Governance
from service.domain.signing import verify
from service.gate.context import GateContext

CONSOLE_SOURCE = "urn:release-gate-console"


class DecisionRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def check(session: Session, governance: Governance, data: dict[str, Any]) -> ApprovalDecisionData:
    """The decision as the contract reads it, if this session may send it; else why not."""
    # A decision signed with its signing time (what the console signs) is version 2.
    model = ApprovalDecisionDataV2 if "signed_at" in data else ApprovalDecisionData
    try:
        decision = model.model_validate(data)
    except ValidationError as exc:
        raise DecisionRefused(400, f"not an approval-decision: {exc.error_count()} errors") from exc
    if decision.approver != session.identity:
        raise DecisionRefused(403, "the approver must be the signed-in owner")
    lane = governance.lane(decision.lane_id)
    if lane is None or not session.owns(lane.lane_id):
        raise DecisionRefused(403, "you are not a release owner of this lane")
    owner = lane.owner(session.identity)
    if owner is None or fingerprint(owner.public_key) != session.key_fingerprint:
        raise DecisionRefused(403, "signed in with a key this lane does not list")
    if not verify(data, owner.public_key):
        raise DecisionRefused(400, "the signature does not verify with your key")
    if decision.decision == "approve":
        _check_terms(decision, lane.authorized_recipients, lane.max_validity.total_seconds())
    return decision


def _check_terms(decision: ApprovalDecisionData, allowed: tuple[str, ...], longest: float) -> None:
    audience = decision.audience or []
    if not audience or any(a not in allowed for a in audience):
        raise DecisionRefused(400, "the audience must be chosen from the lane's recipients")
    assert decision.valid_from is not None and decision.valid_until is not None
    span = (decision.valid_until - decision.valid_from).total_seconds()
    if span <= 0 or span > longest:
        raise DecisionRefused(
            400, f"the window must be longer than zero and at most {longest:.0f} s"
        )


async def publish(rt: GateContext, decision: ApprovalDecisionData, data: dict[str, Any]) -> str:
    """Publish the decision exactly as signed (the raw object, not a re-dump)."""
    event_id = f"console-{decision.decision_id}"
    version = 2 if isinstance(decision, ApprovalDecisionDataV2) else 1
    event = make_event(
        "approval-decision",
        event_id,
        decision.packet_id,
        datetime.now(UTC),
        data,
        CONSOLE_SOURCE,
        version,
    )
    await (await rt.sender.send("approval-decision", decision.packet_id, event))
    rt.log.info(
        "console decision published",
        extra={
            "event_id": event_id,
            "packet_id": decision.packet_id,
            "decision": decision.decision,
        },
    )
    return event_id
