"""Forward requests: allowed only inside the approved audience of a live release."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.domain import events
from service.domain.canonical import manifest_id
from service.domain.draft import Draft
from service.domain.states import RevisionState as S


def _blocked(work: Draft, data: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    """The reason a request is blocked, with detail and the recipients it would have reached."""
    number = int(data["revision"])
    recipients = list(data["recipients"])
    if not any(rev.created for rev in work.revs.values()):
        return "unknown-packet", f"no revision of {work.packet_id} is known", recipients
    rev = work.rev(number)
    if not rev.created:
        return "revision-mismatch", f"r{number} of {work.packet_id} is unknown", recipients
    if data["manifest_id"] != manifest_id(work.packet_id, number):
        return "manifest-mismatch", f"{data['manifest_id']} is not r{number}", recipients
    if rev.state is S.SUPERSEDED:
        return "superseded", "the revision was superseded", recipients
    if rev.state is S.EXPIRED:
        return "expired", "the approval window has ended", recipients
    if rev.state is not S.RELEASED or rev.approval is None:
        return "not-released", f"the revision is {rev.state}", recipients
    audience = set(rev.approval["audience"])
    outside = [r for r in recipients if r not in audience]
    if outside:
        return "outside-audience", f"not in the approved audience: {', '.join(outside)}", outside
    return "", "", []


def decide_forward(work: Draft, data: Mapping[str, Any]) -> bool:
    """Record the outcome on the revision's log; True when the request was seen before."""
    number = int(data["revision"])
    if any(data["request_id"] in rev.request_ids for rev in work.revs.values()):
        return True
    reason, detail, blocked = _blocked(work, data)
    outcome = {
        "request_id": data["request_id"],
        "packet_id": work.packet_id,
        "revision": number,
        "manifest_id": data["manifest_id"],
        "requested_by": data["requested_by"],
        "recipients": list(data["recipients"]),
        "blocked_recipients": blocked,
        "reason": reason or None,
        "detail": detail or f"{len(data['recipients'])} recipients inside the audience",
    }
    kind = "forward-blocked" if reason else "forward-allowed"
    note = events.forward_outcome(not reason, outcome, work.now)
    work.append(number, kind, None, reason or "allowed", outcome, (note,))
    work.refused = work.refused or bool(reason)
    return False
