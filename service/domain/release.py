"""Time-driven transitions and the release itself: manifest, re-check, expiry, timeout."""

from __future__ import annotations

from typing import Any

from service.domain import events
from service.domain.approval import recheck_release
from service.domain.canonical import manifest_hash, manifest_id
from service.domain.draft import Draft
from service.domain.governance import Governance
from service.domain.revision import Revision, parse_time
from service.domain.states import RevisionState as S
from service.domain.times import format_time


def approvals_listed(rev: Revision) -> list[dict[str, Any]]:
    """Every approval of the quorum, each with its signer, signing time and meaning."""
    assert rev.approval is not None
    return [
        {
            "decision_id": a["decision_id"],
            "approver": a["approver"],
            "signed_at": a.get("signed_at"),
            "meaning": a["decision"],
            "signature": a["signature"],
        }
        for a in rev.approvals or (rev.approval,)
    ]


def build_manifest(
    rev: Revision, older: list[int], released_at: str, required: int = 1
) -> dict[str, Any]:
    packet, approval = rev.packet, rev.approval
    assert packet is not None and approval is not None and rev.approved_at is not None
    data: dict[str, Any] = {
        "manifest_id": manifest_id(rev.packet_id, rev.revision),
        "packet_id": rev.packet_id,
        "revision": rev.revision,
        "packet_hash": packet["packet_hash"],
        "option_set_hash": packet["option_set_hash"],
        "lane_id": packet["lane_id"],
        "audience": list(approval["audience"]),
        "approver": approval["approver"],
        "decision_id": approval["decision_id"],
        "approved_at": format_time(rev.approved_at),
        "released_at": released_at,
        "valid_from": format_time(parse_time(approval["valid_from"])),
        "valid_until": format_time(parse_time(approval["valid_until"])),
        "options": packet["options"],
        "blocked_requests": packet["blocked_requests"],
        "evidence_refs": packet["evidence_refs"],
        "supersedes": older,
        "approvals_required": required,
        "approvals": approvals_listed(rev),
    }
    data["manifest_hash"] = manifest_hash(data)
    return data


def release(work: Draft, rev: Revision, governance: Governance) -> None:
    refusal = recheck_release(rev, governance, work.now)
    if refusal:
        reason, detail = refusal
        work.transition(
            rev.revision,
            "superseded",
            S.SUPERSEDED,
            "release-check-failed",
            f"{reason}: {detail}",
            {"check": reason},
        )
        return
    older = sorted(r for r, other in work.revs.items() if other.created and r < rev.revision)
    lane = governance.lane(str(rev.lane_id))
    required = 1 if lane is None else lane.approvals_required
    data = build_manifest(rev, older, format_time(work.now), required)
    work.transition(
        rev.revision,
        "released",
        S.RELEASED,
        "released",
        f"released to {len(data['audience'])} recipients",
        {"manifest": data},
        extra=(events.manifest(data, work.now),),
    )


def advance(work: Draft, governance: Governance) -> None:
    """Apply every transition that time alone makes due, for every revision of the packet."""
    for number in sorted(work.revs):
        rev = work.revs[number]
        due = rev.state_due()
        if due is None or due > work.now:
            continue
        if rev.state is S.PENDING:
            work.transition(number, "expired", S.EXPIRED, "approval-timeout", f"undecided {due}")
        elif rev.valid_until is not None and rev.valid_until <= work.now:
            work.transition(
                number, "expired", S.EXPIRED, "validity-ended", f"valid_until {rev.valid_until}"
            )
        elif rev.state is S.APPROVED:
            release(work, rev, governance)
