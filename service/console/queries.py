"""What the console pages show, read from the store and folded by the domain (no writes).

The queue scans the projections of the session's lanes (a scan on FerretDB; bounded by
QUEUE_PACKETS): it is a page a person opens, not a hot path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.console.sessions import Session
from service.domain.facts import Fact, group_by_revision, verify_chain
from service.domain.governance import GATE_WIDE, Governance, Lane
from service.domain.revision import Revision, fold_packet
from service.domain.states import RevisionState as S
from service.gate.context import GateContext

QUEUE_PACKETS = 500
RECENT = 20


@dataclass(frozen=True)
class Row:
    packet_id: str
    revision: int
    title: str
    lane_id: str
    state: str
    prepared_by: str
    until: datetime | None  # the approval timeout, or the end of the release window
    seconds_left: float | None


@dataclass
class Queue:
    waiting: list[Row] = field(default_factory=list)
    released: list[Row] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)  # refusals, blocked forwards


def lanes_of(session: Session, governance: Governance) -> list[str]:
    if GATE_WIDE in session.roles:
        return sorted(governance.lanes)
    return sorted(lane for lane in session.roles if lane in governance.lanes)


def _row(rev: Revision, now: datetime) -> Row:
    packet = rev.packet or {}
    until = rev.next_due() if rev.state is S.PENDING else rev.valid_until
    return Row(
        packet_id=rev.packet_id,
        revision=rev.revision,
        title=str(packet.get("title", "")),
        lane_id=str(rev.lane_id),
        state=rev.state.value if rev.state else "",
        prepared_by=str(packet.get("prepared_by", "")),
        until=until,
        seconds_left=None if until is None else (until - now).total_seconds(),
    )


async def load(rt: GateContext, packet_ids: Sequence[str]) -> Mapping[str, Sequence[Fact]]:
    return await rt.store.load_packets(list(packet_ids)) if packet_ids else {}


async def queue(rt: GateContext, session: Session, governance: Governance, now: datetime) -> Queue:
    ids: set[str] = set()
    for lane in lanes_of(session, governance):
        ids.update(await rt.store.packets_in_lane(lane))
    logs = await load(rt, sorted(ids)[:QUEUE_PACKETS])
    found = Queue()
    for packet_id, facts in logs.items():
        for rev in fold_packet(packet_id, facts).values():
            if (
                rev.state is S.PENDING
                and rev.packet
                and rev.packet.get("prepared_by") != session.identity
            ):
                found.waiting.append(_row(rev, now))
            elif rev.state is S.RELEASED:
                found.released.append(_row(rev, now))
        found.recent += [_recent(f) for f in facts if f.kind in ("refused", "forward-blocked")]
    found.waiting.sort(key=lambda r: (r.until or now, r.packet_id))
    found.released.sort(key=lambda r: (r.until or now, r.packet_id))
    found.recent = sorted(found.recent, key=lambda r: str(r["at"]), reverse=True)[:RECENT]
    return found


def _recent(fact: Fact) -> dict[str, Any]:
    return {
        "at": fact.at,
        "packet_id": fact.packet_id,
        "revision": fact.revision,
        "kind": "refused approval" if fact.kind == "refused" else "blocked forward",
        "reason": fact.reason,
        "detail": str(fact.data.get("detail", "")),
    }


def _by(items: Sequence[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {str(item[key]): item for item in items}


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """What changed since the previous revision, in words: options, blocked requests, evidence."""
    if before is None:
        return []
    said: list[str] = []
    for what, key in (("option", "option_id"), ("blocked request", "term_id")):
        field_name = "options" if what == "option" else "blocked_requests"
        old, new = _by(before[field_name], key), _by(after[field_name], key)
        said += [f"{what} {k} added" for k in new if k not in old]
        said += [f"{what} {k} removed" for k in old if k not in new]
        said += [f"{what} {k} changed" for k in new if k in old and new[k] != old[k]]
    old_ev = {(e["kind"], e["ref"]): e["version"] for e in before["evidence_refs"]}
    for ref in after["evidence_refs"]:
        was = old_ev.get((ref["kind"], ref["ref"]))
        if was is None:
            said.append(f"evidence {ref['kind']} {ref['ref']} now cited")
        elif was != ref["version"]:
            said.append(f"evidence {ref['kind']} {ref['ref']} {was} -> {ref['version']}")
    return said


@dataclass(frozen=True)
class RevisionPage:
    rev: Revision
    packet: Mapping[str, Any]
    lane: Lane | None
    evidence: list[dict[str, Any]]
    changed: list[str]
    decidable: bool
    why_not: str
    facts: list[Fact]
    chain: str
    required: int = 1  # approvals the lane's quorum needs
    revocable: bool = False  # approved or released, and the session owns the lane

    @property
    def approvals(self) -> list[Mapping[str, Any]]:
        """The approvals counted so far, each with signer, signing time and meaning."""
        return list(self.rev.approvals)

    @property
    def signed(self) -> list[Mapping[str, Any]]:
        """Every signed decision the log records (counted, refused or applied), in order."""
        return [
            {**f.data, "kind": f.kind, "at": f.at}
            for f in self.facts
            if "decision_id" in f.data and "approver" in f.data
        ]


async def revision_page(
    rt: GateContext, session: Session, governance: Governance, packet_id: str, number: int
) -> RevisionPage | None:
    # The log itself, not the snapshot or this instance's cache: an owner signs what the
    # store holds now (and a tampered log shows as a broken chain and a hash mismatch).
    facts = await rt.store.load_packet(packet_id)
    packet = fold_packet(packet_id, facts)
    rev = packet.get(number)
    if rev is None or rev.packet is None or not session.may_see(rev.lane_id):
        return None
    keys = [(k, r) for k, r, _ in rev.cites()]
    newest = await rt.store.evidence_versions(keys) if keys else {}
    evidence = [
        {
            "kind": k,
            "ref": r,
            "version": v,
            "newest": newest[(k, r)].version if (k, r) in newest else v,
            "stale": (k, r) in newest and newest[(k, r)].version != v,
        }
        for k, r, v in rev.cites()
    ]
    before = packet.get(number - 1)
    lane = governance.lane(str(rev.lane_id))
    why_not = _why_not(session, rev, lane)
    log = group_by_revision(facts).get(number, [])
    broken = verify_chain(log)
    return RevisionPage(
        rev=rev,
        packet=rev.packet,
        lane=lane,
        evidence=evidence,
        changed=changes(before.packet if before else None, rev.packet),
        decidable=not why_not,
        why_not=why_not,
        facts=log,
        chain="ok" if broken is None else f"broken at {broken}",
        required=1 if lane is None else lane.approvals_required,
        revocable=_revocable(session, rev, lane),
    )


def _revocable(session: Session, rev: Revision, lane: Lane | None) -> bool:
    live = rev.state in (S.APPROVED, S.RELEASED)
    return live and lane is not None and session.owns(lane.lane_id)


def _why_not(session: Session, rev: Revision, lane: Lane | None) -> str:
    if lane is None:
        return "the lane is not in the governance file"
    if not session.owns(lane.lane_id):
        return "you are not a release owner of this lane"
    if rev.packet and rev.packet.get("prepared_by") == session.identity:
        return "you prepared this packet: its release needs another owner (self-approval)"
    if rev.state is not S.PENDING:
        return f"the revision is {rev.state.value if rev.state else 'unknown'}, not pending"
    if any(a["approver"] == session.identity for a in rev.approvals):
        left = max(lane.approvals_required - len(rev.approvals), 1)
        return f"you have approved it; it waits for {left} more release owner(s)"
    return ""


def outcome_of(facts: Sequence[Fact], revision: int, event_id: str) -> dict[str, Any] | None:
    """What the gate did with a decision the console published, once it has: the state it
    moved the revision to, or the refusal and its reason."""
    for fact in facts:
        if fact.revision == revision and fact.cause_event_id == event_id and fact.kind != "parked":
            detail = str(fact.data.get("detail", ""))
            return {"kind": fact.kind, "reason": fact.reason, "detail": detail, "at": fact.at}
    return None
