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
    if data["decision"] == "revoke":
        return _check_revocable(rev, data)
    if rev.state is not RevisionState.PENDING:
        return "not-pending", f"revision is {rev.state}"
    refusal = _check_binding(rev, data)
    if refusal or not approving:
        return refusal
    return check_scope(lane, data, now) or _check_quorum(rev, lane, data)


def _check_binding(rev: Revision, data: Mapping[str, Any]) -> Refusal | None:
    """The decision names this very revision: its lane and both hashes."""
    assert rev.packet is not None
    if data["lane_id"] != rev.lane_id:
        return "lane-mismatch", f"approval names {data['lane_id']}, revision is in {rev.lane_id}"
    for key in ("packet_hash", "option_set_hash"):
        if data[key] != rev.packet[key]:
            return "hash-mismatch", f"{key} {data[key]} != stored {rev.packet[key]}"
    return None


def _check_revocable(rev: Revision, data: Mapping[str, Any]) -> Refusal | None:
    if rev.state not in (RevisionState.APPROVED, RevisionState.RELEASED):
        hint = "; a pending revision is rejected, not revoked" if not rev.terminal else ""
        return "not-revocable", f"revision is {rev.state}{hint}"
    return _check_binding(rev, data)


# What every approval of one quorum must agree on (docs/design.md, quorum approvals).
TERMS = ("packet_hash", "option_set_hash", "audience", "valid_from", "valid_until")


def _term(data: Mapping[str, Any], name: str) -> object:
    if name == "audience":
        return tuple(sorted(data["audience"]))
    if name in ("valid_from", "valid_until"):
        return parse_time(data[name])
    return data[name]


def terms_differ(first: Mapping[str, Any], other: Mapping[str, Any]) -> str | None:
    """The first term on which two approvals differ, or None when their terms are identical."""
    return next((t for t in TERMS if _term(first, t) != _term(other, t)), None)


def still_counted(rev: Revision, lane: Lane) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The approvals counted so far that still hold under this lane (signer still an owner
    with that key), and why each other one no longer counts."""
    held: list[Mapping[str, Any]] = []
    dropped: list[str] = []
    for approval in rev.approvals:
        refusal = check_owner(lane, approval)
        if refusal is None:
            held.append(approval)
        else:
            dropped.append(f"{approval['approver']}'s approval no longer counts ({refusal[0]})")
    return held, dropped


def _check_quorum(rev: Revision, lane: Lane, data: Mapping[str, Any]) -> Refusal | None:
    held, _ = still_counted(rev, lane)
    if any(a["approver"] == data["approver"] for a in held):
        return "approver-already-counted", f"{data['approver']} has approved this revision"
    differing = terms_differ(held[0], data) if held else None
    if differing:
        first = held[0]["approver"]
        return "terms-differ", f"{differing} differs from the approval of {first} counted first"
    return None


def recheck_release(rev: Revision, governance: Governance, now: datetime) -> Refusal | None:
    """At release the quorum must still hold under the governance in force now."""
    assert rev.approval is not None
    lane = governance.lane(str(rev.lane_id))
    if lane is None:
        return "unknown-lane", f"lane {rev.lane_id} is no longer governed"
    approvals = rev.approvals or (rev.approval,)
    failures = [r for r in (check_owner(lane, a) for a in approvals) if r is not None]
    holding = len(approvals) - len(failures)  # the approvers of a quorum are distinct
    if holding < lane.approvals_required:
        reason, detail = failures[0] if failures else ("quorum-not-met", "too few approvals")
        k = lane.approvals_required
        return reason, f"{detail}; {holding} of {k} required approvals still hold"
    refusal = check_scope(lane, rev.approval, now)
    # The window may have begun already; only its shape and scope are re-checked here.
    if refusal and refusal[0] == "bad-window" and "already past" in refusal[1]:
        return None
    return refusal
