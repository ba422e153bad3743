"""Forward requests: allowed only inside the approved audience of a live release.

Every request that names a packet is a redistribution attempt and is recorded, allowed or
blocked, however its recipients look (docs/contract.md, forward-request): recipients are
compared exactly as sent, so a malformed one is simply outside the audience.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.domain import events
from service.domain.canonical import manifest_id
from service.domain.draft import Draft
from service.domain.states import RevisionState as S
from service.domain.vocab import MAX_RECIPIENTS, MAX_SHOWN

SHOWN_IN_DETAIL = 5


def shown(text: str) -> str:
    """A value as sent, safe to show: control characters escaped, cut to MAX_SHOWN."""
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    if len(escaped) <= MAX_SHOWN:
        return escaped
    return f"{escaped[:MAX_SHOWN]}…(+{len(escaped) - MAX_SHOWN})"


def _listed(recipients: Sequence[str]) -> list[str]:
    """What the outcome event lists: the first MAX_RECIPIENTS recipients, shown."""
    return [shown(r) for r in recipients[:MAX_RECIPIENTS]]


def _state_blocks(work: Draft, data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The reason the revision itself refuses any forward, or None when it is released."""
    number = int(data["revision"])
    if not any(rev.created for rev in work.revs.values()):
        return "unknown-packet", f"no revision of {work.packet_id} is known"
    rev = work.rev(number)
    if not rev.created:
        return "revision-mismatch", f"r{number} of {work.packet_id} is unknown"
    if data["manifest_id"] != manifest_id(work.packet_id, number):
        return "manifest-mismatch", f"{shown(str(data['manifest_id']))} is not r{number}"
    if rev.state is S.SUPERSEDED:
        return "superseded", "the revision was superseded"
    if rev.revoked:
        return "revoked-by-owner", "a release owner revoked the release"
    if rev.state is S.EXPIRED:
        return "expired", "the approval window has ended"
    if rev.state is not S.RELEASED or rev.approval is None:
        return "not-released", f"the revision is {rev.state}"
    return None


def _audience_blocks(audience: set[str], recipients: Sequence[str]) -> tuple[str, list[str]]:
    """Detail and blocked recipients (shown) when any recipient is outside the audience."""
    if not recipients:
        return "no recipients named", []
    if len(recipients) > MAX_RECIPIENTS:
        detail = f"{len(recipients)} recipients, over the limit of {MAX_RECIPIENTS}"
        return f"{detail}: blocked whole; the first {MAX_RECIPIENTS} are listed", _listed(
            recipients
        )
    outside = [shown(r) for r in recipients if r not in audience]
    if not outside:
        return "", []
    named = ", ".join(outside[:SHOWN_IN_DETAIL])
    more = f" and {len(outside) - SHOWN_IN_DETAIL} more" if len(outside) > SHOWN_IN_DETAIL else ""
    return f"not in the approved audience: {named}{more}", outside


def _blocked(work: Draft, data: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    """The reason a request is blocked, with detail and the recipients it is blocked for."""
    recipients = list(data["recipients"])
    by_state = _state_blocks(work, data)
    if by_state is not None:
        return by_state[0], by_state[1], _listed(recipients)
    approval = work.rev(int(data["revision"])).approval
    assert approval is not None  # a released revision has its approval
    detail, blocked = _audience_blocks(set(approval["audience"]), recipients)
    return ("outside-audience", detail, blocked) if detail else ("", "", [])


def decide_forward(work: Draft, data: Mapping[str, Any]) -> bool:
    """Record the outcome on the revision's log; True when the request was seen before."""
    number = int(data["revision"])
    if any(data["request_id"] in rev.request_ids for rev in work.revs.values()):
        return True
    reason, detail, blocked = _blocked(work, data)
    recipients = list(data["recipients"])
    outcome = {
        "request_id": data["request_id"],
        "packet_id": work.packet_id,
        "revision": number,
        "manifest_id": data["manifest_id"],
        "requested_by": shown(str(data["requested_by"])),
        "recipients": _listed(recipients),
        "blocked_recipients": blocked,
        "reason": reason or None,
        "detail": detail or f"{len(recipients)} recipients inside the audience",
    }
    kind = "forward-blocked" if reason else "forward-allowed"
    note = events.forward_outcome(not reason, outcome, work.now)
    work.append(number, kind, None, reason or "allowed", outcome, (note,))
    work.refused = work.refused or bool(reason)
    return False
