"""decide(): the pure heart. State, command, now and governance in; facts to append out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.domain.approval import check_approval, still_counted
from service.domain.canonical import parse_manifest_id
from service.domain.commands import (
    DEFAULT_PARKING,
    ApprovalDecided,
    Command,
    EarlyCommand,
    EvidenceChanged,
    EvidenceVersion,
    FeedbackReceived,
    ForwardRequested,
    PacketReady,
    Parking,
    Tick,
)
from service.domain.draft import Draft
from service.domain.facts import Fact
from service.domain.forward import decide_forward
from service.domain.governance import Governance
from service.domain.parking import park_if_early, settle_parked, unmatched_feedback
from service.domain.release import advance, release
from service.domain.revision import Packet, newest_created
from service.domain.states import RevisionState as S

Evidence = Mapping[tuple[str, str], EvidenceVersion]


@dataclass(frozen=True)
class Decision:
    facts: tuple[Fact, ...] = ()
    outcome: str = "applied"  # applied | duplicate | refused | parked | dead-lettered
    dead_letter: tuple[str, str] | None = None  # (error_kind, detail)


def decide(
    packet_id: str,
    packet: Packet,
    command: Command,
    now: datetime,
    governance: Governance,
    evidence: Evidence | None = None,
    parking: Parking = DEFAULT_PARKING,
) -> Decision:
    """`evidence`: the newest announced version of what the packet's revisions cite. A
    revision citing an older one is superseded before anything else can act on it.
    `parking`: how early events (service/domain/parking.py) are held."""
    work = Draft(packet_id, packet, now, command.event_id)
    seen = work.seen(command.event_id)
    known = dict(evidence or {})
    if isinstance(command, PacketReady):
        known.update(command.evidence)
    _supersede_stale_evidence(work, known)
    _supersede_older(work)  # heals a log a writer left half-way through a supersession
    advance(work, governance)

    def decide_parked(draft: Draft, early: EarlyCommand) -> None:
        dead = _early_capable(draft, early, governance)[0]
        if dead and isinstance(early, FeedbackReceived):
            unmatched_feedback(draft, early, dead[1])

    settle_parked(work, decide_parked)  # those whose grace has passed, before anything new
    dead: tuple[str, str] | None = None
    duplicate = seen
    if isinstance(command, PacketReady):
        dead, duplicate = _packet_ready(work, command, governance)
    elif isinstance(command, Tick):
        pass
    elif isinstance(command, EvidenceChanged):
        if not seen:
            _evidence_changed(work, command)
    elif not seen:
        dead, duplicate = _early_or_now(work, command, governance, parking)
    settle_parked(work, decide_parked)  # those the command made decidable
    return _decision(work, dead, duplicate)


def _decision(work: Draft, dead: tuple[str, str] | None, duplicate: bool) -> Decision:
    if dead:
        return Decision(tuple(work.facts), "dead-lettered", dead)
    if work.refused:
        return Decision(tuple(work.facts), "refused")
    if work.parked:
        return Decision(tuple(work.facts), "parked")
    return Decision(tuple(work.facts), "duplicate" if duplicate else "applied")


def _early_or_now(
    work: Draft, command: EarlyCommand, governance: Governance, parking: Parking
) -> tuple[tuple[str, str] | None, bool]:
    early = park_if_early(work, command, parking)
    if early == "parked":
        return None, False
    if early == "full" and not isinstance(command, ForwardRequested):
        held = f"{parking.per_packet} per packet, or the instance's limit in all"
        return ("early-event-limit", f"too many early events held ({held})"), False
    # A forward is always decided and audited, even when no room is left to hold it.
    return _early_capable(work, command, governance)


def _early_capable(
    work: Draft, command: EarlyCommand, governance: Governance
) -> tuple[tuple[str, str] | None, bool]:
    """Decide an approval, forward or feedback now: (dead letter, duplicate)."""
    if isinstance(command, ApprovalDecided):
        _approval(work, command, governance)
        return None, False
    if isinstance(command, ForwardRequested):
        return None, decide_forward(work, command.data)
    return _feedback(work, command)


def _packet_ready(
    work: Draft, cmd: PacketReady, governance: Governance
) -> tuple[tuple[str, str] | None, bool]:
    data = cmd.data
    number = int(data["revision"])
    existing = work.rev(number)
    duplicate = existing.created
    if existing.packet is not None and existing.packet["packet_hash"] != data["packet_hash"]:
        return ("revision-conflict", f"r{number} is stored with another packet_hash"), False
    if not existing.created:
        # Older revisions are superseded *before* r{number} is created: the first fact
        # appended is then on the older revision's next seq, so a rival acting on the older
        # revision (an approval, say) collides there and never sees a world with r{number}
        # in the log and its own revision still live.
        _supersede_older(work, number)
        _create(work, cmd, governance)
    _supersede_stale_evidence(work, cmd.evidence)
    return None, duplicate


def _create(work: Draft, cmd: PacketReady, governance: Governance) -> None:
    data = cmd.data
    number = int(data["revision"])
    lane = governance.lane(data["lane_id"])
    body: dict[str, Any] = {"packet": dict(data)}
    if lane is None:
        work.transition(
            number, "created", S.REJECTED, "unknown-lane", f"lane {data['lane_id']}", body
        )
        return
    cited = {ref["kind"] for ref in data["evidence_refs"]}
    missing = [kind for kind in lane.required_evidence if kind not in cited]
    if missing:
        detail = f"missing evidence: {', '.join(missing)}"
        work.transition(number, "created", S.REJECTED, "evidence-incomplete", detail, body)
        return
    newest = newest_created(work.revs)
    if newest is not None and number < newest:
        work.transition(
            number,
            "created",
            S.SUPERSEDED,
            "out-of-order",
            f"r{newest} is newer",
            body,
            superseded_by=newest,
        )
        return
    body["max_pending_seconds"] = int(lane.max_pending / timedelta(seconds=1))
    work.transition(number, "created", S.PENDING, "packet-ready", f"lane {lane.lane_id}", body)


def _supersede_older(work: Draft, arriving: int = 0) -> None:
    newest = max(newest_created(work.revs) or 0, arriving)
    for number, rev in sorted(work.revs.items()):
        if number < newest and rev.created and not rev.terminal:
            work.transition(
                number,
                "superseded",
                S.SUPERSEDED,
                "newer-revision",
                f"r{newest} supersedes r{number}",
                superseded_by=newest,
            )


def _supersede_stale_evidence(work: Draft, evidence: Evidence) -> None:
    """A revision citing a version older than one already announced is stale."""
    for number, rev in sorted(work.revs.items()):
        if not rev.created or rev.terminal:
            continue
        for kind, ref, version in rev.cites():
            latest = evidence.get((kind, ref))
            if latest is not None and latest.version != version:
                detail = f"{kind} {ref} {version} -> {latest.version}"
                work.transition(number, "superseded", S.SUPERSEDED, "evidence-changed", detail)
                break


def signed_record(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit trail keeps of any signed decision: who, when, what it means (21 CFR
    Part 11 §11.50: identity, time and meaning, all inside the signed bytes)."""
    return {
        "decision_id": data["decision_id"],
        "approver": data["approver"],
        "decision": data["decision"],
        "signed_at": data.get("signed_at"),  # absent from version-1 decisions
        "signature": data["signature"],
    }


def _approval(work: Draft, cmd: ApprovalDecided, governance: Governance) -> None:
    data = cmd.data
    number = int(data["revision"])
    record = signed_record(data)
    refusal = check_approval(work.revs, data, work.now, governance)
    if refusal:
        work.refuse(number, refusal[0], refusal[1], record)
    elif data["decision"] == "reject":
        reason = str(data.get("reason") or "")
        work.transition(number, "rejected", S.REJECTED, "rejected-by-owner", reason, record)
    elif data["decision"] == "revoke":
        reason = str(data.get("reason") or "")
        work.transition(
            number,
            "revoked",
            S.REJECTED,
            "revoked-by-owner",
            f"revoked by {data['approver']}: {reason}",
            record,
            announced={"approvals": None},
        )
    else:
        _approve(work, number, data, record, governance)


def _approve(
    work: Draft,
    number: int,
    data: Mapping[str, Any],
    record: Mapping[str, Any],
    governance: Governance,
) -> None:
    """Count a valid approval; the k-th distinct one on identical terms approves."""
    rev = work.rev(number)
    lane = governance.lane(str(rev.lane_id))
    assert lane is not None  # check_approval found the approver among its owners
    held, dropped = still_counted(rev, lane)
    quorum = [*held, dict(data)]
    needed = lane.approvals_required
    body = {**record, "approval": dict(data), "approvals": quorum}
    if len(quorum) < needed:
        detail = "; ".join([f"approvals: {len(quorum)} of {needed}", *dropped])
        work.count(number, detail, body, {"counted": len(quorum), "required": needed})
        return
    by = ", ".join(a["approver"] for a in quorum)
    of = f" ({needed} of {needed})" if needed > 1 else ""
    detail = f"by {by}{of} for {len(data['audience'])} recipients"
    work.transition(number, "approved", S.APPROVED, "approved", detail, body)
    rev = work.rev(number)
    if rev.valid_from is not None and rev.valid_from <= work.now:
        release(work, rev, governance)


def _evidence_changed(work: Draft, cmd: EvidenceChanged) -> None:
    kind, ref, version = cmd.data["kind"], cmd.data["ref"], cmd.data["new_version"]
    for number, rev in sorted(work.revs.items()):
        if not rev.created or rev.terminal:
            continue
        if kind == "audience-scope" and rev.lane_id == ref:
            if cmd.as_of is not None and rev.ready_at is not None and rev.ready_at > cmd.as_of:
                continue
            detail = f"audience-scope {ref} -> {version}"
        else:
            stale = [v for k, r, v in rev.cites() if (k, r) == (kind, ref) and v != version]
            if not stale:
                continue
            detail = f"{kind} {ref} {stale[0]} -> {version}"
        work.transition(number, "superseded", S.SUPERSEDED, "evidence-changed", detail)


def _feedback(work: Draft, cmd: FeedbackReceived) -> tuple[tuple[str, str] | None, bool]:
    data = cmd.data
    parsed = parse_manifest_id(str(data["manifest_id"]))
    if parsed is None or parsed[0] != work.packet_id or work.rev(parsed[1]).manifest is None:
        return ("unknown-manifest", f"no released revision {data['manifest_id']}"), False
    rev = work.rev(parsed[1])
    if data["feedback_id"] in rev.feedback_ids:
        return None, True
    work.append(parsed[1], "feedback", None, str(data["correction"]), dict(data))
    return None, False
