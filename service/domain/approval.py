"""Approval checks, each with the reason docs/contract.md names, and their application."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.domain.governance import Governance, Lane
from service.domain.revision import Packet, Revision, parse_time
from service.domain.signing import verify
from service.domain.states import RevisionState

Refusal = tuple[str, str]  # (reason, detail)


def check_owner(lane: Lane | None, data: Mapping[str, Any]) -> Refusal | None:
    """The approver must be a release owner of the lane and the signature theirs."""
    approver = data["approver"]
    owner = None if lane is None else lane.owner(approver)
    if lane is None or owner is None:
        lane_name = "no lane" if lane is None else f"lane {lane.lane_id}"
        return "not-release-owner", f"{approver} is not a release owner of {lane_name}"
    if not verify(data, owner.public_key):
        return "bad-signature", f"signature does not verify with {approver}'s key"
    return None


def check_scope(lane: Lane, data: Mapping[str, Any], now: datetime) -> Refusal | None:
    """Audience inside the lane, window bounded and not over."""
    audience = list(data.get("audience") or [])
    outside = [a for a in audience if a not in lane.authorized_recipients]
    if not audience:
        return "audience-out-of-scope", "audience is empty"
    if outside:
        return "audience-out-of-scope", f"not authorized in {lane.lane_id}: {', '.join(outside)}"
    start, end = parse_time(data["valid_from"]), parse_time(data["valid_until"])
    if start >= end:
        return "bad-window", "valid_from is not before valid_until"
    if end - start > lane.max_validity:
        return "bad-window", f"window {end - start} exceeds max_validity {lane.max_validity}"
    if end <= now:
        return "bad-window", "valid_until is already past"
    return None


def check_approval(
    packet: Packet, data: Mapping[str, Any], now: datetime, governance: Governance
) -> Refusal | None:
    rev: Revision | None = packet.get(int(data["revision"]))
    if rev is None or rev.packet is None:
        return "unknown-revision", f"revision {data['revision']} of {data['packet_id']} is unknown"
    lane = governance.lane(str(rev.lane_id))
    refusal = check_owner(lane, data)
    if refusal:
        return refusal
    assert lane is not None
    approving = data["decision"] == "approve"
    if approving and data["approver"] == rev.packet["prepared_by"]:
        return "self-approval", f"{data['approver']} prepared this revision"
    used = [r for r, other in packet.items() if data["decision_id"] in other.decision_ids]
    if used and used != [rev.revision]:
        return "decision-reused", f"decision {data['decision_id']} already decided r{used[0]}"
    if rev.state is not RevisionState.PENDING:
        return "not-pending", f"revision is {rev.state}"
    if data["lane_id"] != rev.lane_id:
        return "lane-mismatch", f"approval names {data['lane_id']}, revision is in {rev.lane_id}"
    for key in ("packet_hash", "option_set_hash"):
        if data[key] != rev.packet[key]:
            return "hash-mismatch", f"{key} {data[key]} != stored {rev.packet[key]}"
    return check_scope(lane, data, now) if approving else None


def recheck_release(rev: Revision, governance: Governance, now: datetime) -> Refusal | None:
    """At release the approval must still hold under the governance in force now."""
    assert rev.approval is not None
    lane = governance.lane(str(rev.lane_id))
    if lane is None:
        return "unknown-lane", f"lane {rev.lane_id} is no longer governed"
    refusal = check_owner(lane, rev.approval)
    if refusal:
        return refusal
    refusal = check_scope(lane, rev.approval, now)
    # The window may have begun already; only its shape and scope are re-checked here.
    if refusal and refusal[0] == "bad-window" and "already past" in refusal[1]:
        return None
    return refusal
