"""A revision's current view, folded from its log; a packet is the map of its revisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from service.domain.facts import Fact, group_by_revision
from service.domain.states import RevisionState, is_terminal
from service.domain.times import parse_time

# Facts a signed decision that took effect leaves behind (its decision id is then used).
DECISION_KINDS = frozenset({"approved", "rejected", "approval-counted", "revoked"})

__all__ = [
    "Packet",
    "Parked",
    "Revision",
    "apply",
    "fold",
    "fold_packet",
    "newest_created",
    "parse_time",
    "with_facts",
]


@dataclass(frozen=True)
class Parked:
    """An input that named this revision before it was stored, waiting for it or its grace."""

    event_id: str
    at: datetime  # when it was parked
    topic: str  # the input topic it came on (approval-decision, forward-request, ...)
    data: Mapping[str, Any]
    due: datetime  # the end of its grace
    origin: Mapping[str, Any] | None


@dataclass(frozen=True)
class Revision:
    packet_id: str
    revision: int
    state: RevisionState | None = None
    seq: int = 0
    head_hash: str | None = None
    packet: Mapping[str, Any] | None = None  # raw packet-ready data, once created
    ready_at: datetime | None = None
    max_pending: timedelta | None = None  # snapshot of the lane's rule at intake
    approval: Mapping[str, Any] | None = None  # raw approval data, once approved
    # The approvals counted towards the lane's quorum so far (raw data), in arrival order.
    approvals: tuple[Mapping[str, Any], ...] = ()
    revoked: bool = False  # ended by a release owner's revocation
    approved_at: datetime | None = None
    manifest: Mapping[str, Any] | None = None
    causes: frozenset[str] = field(default_factory=frozenset)
    request_ids: frozenset[str] = field(default_factory=frozenset)
    feedback_ids: frozenset[str] = field(default_factory=frozenset)
    decision_ids: frozenset[str] = field(default_factory=frozenset)  # decisions that took effect
    parked: tuple[Parked, ...] = ()  # early events not yet decided, in arrival order

    @property
    def created(self) -> bool:
        return self.packet is not None

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)

    @property
    def lane_id(self) -> str | None:
        return None if self.packet is None else str(self.packet["lane_id"])

    @property
    def valid_from(self) -> datetime | None:
        return None if self.approval is None else parse_time(self.approval["valid_from"])

    @property
    def valid_until(self) -> datetime | None:
        return None if self.approval is None else parse_time(self.approval["valid_until"])

    def cites(self) -> Iterable[tuple[str, str, str]]:
        for ref in [] if self.packet is None else self.packet["evidence_refs"]:
            yield ref["kind"], ref["ref"], ref["version"]

    def next_due(self) -> datetime | None:
        """When time alone will next change this revision (the scheduler's index)."""
        state_due = self.state_due()
        parked_due = min((p.due for p in self.parked), default=None)
        if state_due is None or parked_due is None:
            return state_due or parked_due
        return min(state_due, parked_due)

    def state_due(self) -> datetime | None:
        """When time alone will next move this revision's state (held events aside)."""
        if self.state is RevisionState.PENDING and self.ready_at and self.max_pending:
            return self.ready_at + self.max_pending
        if self.state is RevisionState.APPROVED and self.valid_from and self.valid_until:
            return min(self.valid_from, self.valid_until)
        if self.state is RevisionState.RELEASED:
            return self.valid_until
        return None


def apply(rev: Revision, fact: Fact) -> Revision:
    """Fold one fact into the view."""
    changes: dict[str, Any] = {
        "seq": fact.seq,
        "head_hash": fact.hash,
        "causes": rev.causes | {fact.cause_event_id},
    }
    if fact.to_state is not None:
        changes["state"] = RevisionState(fact.to_state)
    data = fact.data
    if fact.kind == "created":
        changes["packet"] = data["packet"]
        changes["ready_at"] = parse_time(fact.at)
        pending = data.get("max_pending_seconds")
        changes["max_pending"] = None if pending is None else timedelta(seconds=pending)
    elif fact.kind == "approved":
        changes["approval"] = data["approval"]
        changes["approved_at"] = parse_time(fact.at)
        # Facts written before quorums carry the one approval only.
        changes["approvals"] = tuple(data.get("approvals") or (data["approval"],))
    elif fact.kind == "approval-counted":
        changes["approvals"] = tuple(data["approvals"])
    elif fact.kind == "revoked":
        changes["revoked"] = True
    elif fact.kind == "released":
        changes["manifest"] = data["manifest"]
    elif fact.kind in ("forward-allowed", "forward-blocked"):
        changes["request_ids"] = rev.request_ids | {data["request_id"]}
    elif fact.kind == "feedback":
        changes["feedback_ids"] = rev.feedback_ids | {data["feedback_id"]}
    if fact.kind in DECISION_KINDS and "decision_id" in data:
        changes["decision_ids"] = rev.decision_ids | {data["decision_id"]}
    if fact.kind == "parked":
        changes["parked"] = (*rev.parked, _parked(fact))
    elif rev.parked and any(p.event_id == fact.cause_event_id for p in rev.parked):
        # The first fact a parked event causes decides it: it waits no longer.
        changes["parked"] = tuple(p for p in rev.parked if p.event_id != fact.cause_event_id)
    return replace(rev, **changes)


def _parked(fact: Fact) -> Parked:
    data = fact.data
    return Parked(
        event_id=fact.cause_event_id,
        at=parse_time(fact.at),
        topic=str(data["topic"]),
        data=data["event_data"],
        due=parse_time(data["due"]),
        origin=data.get("origin"),
    )


def fold(packet_id: str, revision: int, facts: Iterable[Fact]) -> Revision:
    rev = Revision(packet_id=packet_id, revision=revision)
    for fact in facts:
        rev = apply(rev, fact)
    return rev


Packet = Mapping[int, Revision]


def fold_packet(packet_id: str, facts: Iterable[Fact]) -> dict[int, Revision]:
    return {r: fold(packet_id, r, log) for r, log in group_by_revision(facts).items()}


def newest_created(packet: Packet) -> int | None:
    created = [r for r, rev in packet.items() if rev.created]
    return max(created) if created else None


def with_facts(packet: Packet, packet_id: str, facts: Iterable[Fact]) -> dict[int, Revision]:
    """The packet after these facts, folded onto the views it already has."""
    updated = dict(packet)
    for fact in facts:
        rev = updated.get(fact.revision) or Revision(packet_id=packet_id, revision=fact.revision)
        updated[fact.revision] = apply(rev, fact)
    return updated
