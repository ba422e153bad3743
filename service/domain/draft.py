"""The scratch pad of one decide() call: appends facts to revisions and keeps views current."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from service.domain import events
from service.domain.facts import TRANSITION_KINDS, Fact, Outgoing, seal
from service.domain.revision import Packet, Revision, apply
from service.domain.states import RevisionState, check_transition
from service.domain.times import format_time


class Draft:
    def __init__(self, packet_id: str, packet: Packet, now: datetime, cause: str) -> None:
        self.packet_id = packet_id
        self.revs: dict[int, Revision] = dict(packet)
        self.now = now
        self.cause = cause
        self.facts: list[Fact] = []
        self.refused = False
        self.parked = False

    def rev(self, revision: int) -> Revision:
        return self.revs.get(revision) or Revision(packet_id=self.packet_id, revision=revision)

    def append(
        self,
        revision: int,
        kind: str,
        to_state: RevisionState | None,
        reason: str | None,
        data: Mapping[str, Any],
        outbox: tuple[Outgoing, ...] = (),
    ) -> None:
        rev = self.rev(revision)
        from_state = rev.state
        if kind in TRANSITION_KINDS:
            assert to_state is not None and reason is not None
            check_transition(from_state, to_state, reason)
        else:
            to_state = from_state
        fact = Fact(
            packet_id=self.packet_id,
            revision=revision,
            seq=0,
            kind=kind,
            from_state=None if from_state is None else from_state.value,
            to_state=None if to_state is None else to_state.value,
            reason=reason,
            at=format_time(self.now),
            cause_event_id=self.cause,
            data=dict(data),
            outbox=outbox,
        )
        fact = seal(fact, rev.head_hash, rev.seq + 1)
        self.revs[revision] = apply(rev, fact)
        self.facts.append(fact)

    def transition(
        self,
        revision: int,
        kind: str,
        to_state: RevisionState,
        reason: str,
        detail: str,
        data: Mapping[str, Any] | None = None,
        extra: tuple[Outgoing, ...] = (),
        superseded_by: int | None = None,
        announced: Mapping[str, Any] | None = None,
    ) -> None:
        """A state change, announced on packet-lifecycle (`announced`: fields version 2 adds)."""
        from_state = self.rev(revision).state
        note = events.lifecycle(
            self.packet_id,
            revision,
            None if from_state is None else from_state.value,
            to_state.value,
            reason,
            detail,
            self.cause,
            self.now,
            superseded_by,
            announced,
        )
        body = {"detail": detail, "superseded_by": superseded_by, **(data or {})}
        self.append(revision, kind, to_state, reason, body, (*extra, note))

    def refuse(self, revision: int, reason: str, detail: str, data: Mapping[str, Any]) -> None:
        """A refused approval: audited and announced, the state unchanged."""
        state = self.rev(revision).state
        value = None if state is None else state.value
        note = events.lifecycle(
            self.packet_id, revision, value, value, reason, detail, self.cause, self.now
        )
        self.append(revision, "refused", None, reason, {"detail": detail, **data}, (note,))
        self.refused = True

    def count(
        self, revision: int, detail: str, data: Mapping[str, Any], progress: Mapping[str, int]
    ) -> None:
        """One approval of a quorum not yet complete: audited, announced, the state unchanged."""
        state = self.rev(revision).state
        value = None if state is None else state.value
        note = events.lifecycle(
            self.packet_id,
            revision,
            value,
            value,
            "approval-counted",
            detail,
            self.cause,
            self.now,
            extra={"approvals": dict(progress)},
            tag="counted",
        )
        body = {"detail": detail, **data}
        self.append(revision, "approval-counted", None, "approval-counted", body, (note,))

    @contextmanager
    def caused_by(self, event_id: str) -> Iterator[None]:
        """Facts appended inside are caused by `event_id` (a parked event decided later)."""
        outer, self.cause = self.cause, event_id
        try:
            yield
        finally:
            self.cause = outer

    def park(
        self, revision: int, topic: str, data: Mapping[str, Any], body: Mapping[str, Any]
    ) -> None:
        """Hold an input that named a revision not stored yet (no output: it is not decided)."""
        self.append(
            revision,
            "parked",
            None,
            "early-event",
            {"topic": topic, "event_data": dict(data), **body},
        )
        self.parked = True

    def seen(self, event_id: str) -> bool:
        return any(event_id in rev.causes for rev in self.revs.values())
