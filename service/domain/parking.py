"""Early events: an approval, forward or feedback that overtook the revision it names.

Kafka orders nothing across topics, so such an event is held on the named revision's own
log (a `parked` fact: durable, and a redelivery finds its event id there and is a
duplicate), decided the moment the revision is stored, in arrival order, and refused or
blocked with the usual reason only once its grace has passed (docs/contract.md, envelope).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from service.domain import events
from service.domain.canonical import parse_manifest_id
from service.domain.commands import (
    EARLY_KINDS,
    ApprovalDecided,
    EarlyCommand,
    FeedbackReceived,
    ForwardRequested,
    Origin,
    Parking,
)
from service.domain.draft import Draft
from service.domain.revision import Parked, Revision
from service.domain.times import format_time

TOPIC_OF = {cls: topic for topic, cls in EARLY_KINDS.items()}
Decider = Callable[[Draft, EarlyCommand], None]


def named_revision(command: EarlyCommand) -> int | None:
    """The revision an early-capable command names (None: it names none it could wait for)."""
    if isinstance(command, FeedbackReceived):
        parsed = parse_manifest_id(str(command.data["manifest_id"]))
        return None if parsed is None else parsed[1]
    return int(command.data["revision"])


def _waits_for(topic: str, rev: Revision) -> bool:
    """Whether an event of `topic` naming `rev` has to wait: until the revision is stored.

    A feedback waits no longer than that: the gate publishes a manifest only after storing
    its release, so a reviewer's feedback can overtake the revision (a replay, a lagging
    partition) but never the release."""
    del topic  # every kind waits for the same thing today
    return not rev.created


def park_if_early(work: Draft, command: EarlyCommand, parking: Parking) -> str | None:
    """Park the command when what it names is not there yet. Returns None when it was not
    early, "parked", or "full" when it was early but no room is left to hold it."""
    number = named_revision(command)
    if number is None or not _waits_for(TOPIC_OF[type(command)], work.rev(number)):
        return None
    held = sum(len(rev.parked) for rev in work.revs.values())
    if held >= parking.per_packet or not parking.room:
        return "full"
    body = {
        "due": format_time(work.now + parking.grace),
        "grace_seconds": int(parking.grace / timedelta(seconds=1)),
        "origin": None if command.origin is None else command.origin.to_json(),
    }
    work.park(number, TOPIC_OF[type(command)], command.data, body)
    return "parked"


def as_command(parked: Parked) -> EarlyCommand:
    origin = None if parked.origin is None else Origin.from_json(parked.origin)
    cls = EARLY_KINDS[parked.topic]
    return cls(parked.event_id, parked.data, origin)


def settle_parked(work: Draft, decide_one: Decider) -> None:
    """Decide, in arrival order, every parked event that no longer has to wait (what it
    names is there now) or whose grace has passed (it is then refused or blocked)."""
    for number in sorted(work.revs):
        for parked in work.rev(number).parked:
            rev = work.rev(number)
            if _waits_for(parked.topic, rev) and parked.due > work.now:
                continue
            with work.caused_by(parked.event_id):
                decide_one(work, as_command(parked))
                if any(p.event_id == parked.event_id for p in work.rev(number).parked):
                    _settled_as_duplicate(work, number, parked)


def _settled_as_duplicate(work: Draft, number: int, parked: Parked) -> None:
    """A held event whose decision appended nothing (its request or feedback id was decided
    under another event id meanwhile): recorded, so that it is held no longer."""
    key = "request_id" if parked.topic == "forward-request" else "feedback_id"
    data = {"topic": parked.topic, key: parked.data.get(key)}
    work.append(number, "unparked", None, "duplicate", data)


def unmatched_feedback(work: Draft, command: FeedbackReceived, detail: str) -> None:
    """A feedback whose manifest never came: dead-lettered like any unknown manifest, from
    the record it arrived in, and recorded on the revision it named."""
    number = named_revision(command)
    assert number is not None  # only a feedback naming a revision is ever parked
    # Without the record (a command made in process, not read from Kafka) the fact alone
    # records it.
    letters = (
        ()
        if command.origin is None
        else (events.dead_letter(command.origin, "unknown-manifest", detail),)
    )
    data = {"feedback_id": command.data["feedback_id"], "error_kind": "unknown-manifest"}
    work.append(number, "dead-lettered", None, "unknown-manifest", data, letters)


__all__ = [
    "ApprovalDecided",
    "ForwardRequested",
    "named_revision",
    "park_if_early",
    "settle_parked",
    "unmatched_feedback",
]
