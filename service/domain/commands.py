"""Commands decide() understands: one per input topic, plus the clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class EvidenceVersion:
    """The newest version of one cited item the service has been told of, and by whom."""

    version: str
    event_id: str


@dataclass(frozen=True)
class Origin:
    """Where an input record came from, kept with an early event so that a dead letter
    written after its grace can still carry the record's place and bytes."""

    topic: str
    partition: int
    offset: int
    key: str | None
    received_at: str  # RFC 3339, from the record's timestamp
    raw_value: str  # the record's bytes, base64

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "received_at": self.received_at,
            "raw_value": self.raw_value,
        }

    @staticmethod
    def from_json(obj: Mapping[str, Any]) -> Origin:
        return Origin(
            obj["topic"],
            int(obj["partition"]),
            int(obj["offset"]),
            obj["key"],
            obj["received_at"],
            obj["raw_value"],
        )


@dataclass(frozen=True)
class Parking:
    """How long an event that overtook its revision is held, and how many may wait.

    `room` is False when the instance already holds its cap of early events in all."""

    grace: timedelta = timedelta(minutes=5)
    per_packet: int = 100
    room: bool = True


DEFAULT_PARKING = Parking()


@dataclass(frozen=True)
class PacketReady:
    event_id: str
    data: Mapping[str, Any]  # validated raw payload (hashes already verified)
    # Latest evidence-changed versions of what this packet cites, keyed (kind, ref).
    evidence: Mapping[tuple[str, str], EvidenceVersion] = field(default_factory=dict)


@dataclass(frozen=True)
class ApprovalDecided:
    event_id: str
    data: Mapping[str, Any]
    origin: Origin | None = None


@dataclass(frozen=True)
class EvidenceChanged:
    event_id: str
    data: Mapping[str, Any]
    # When the change was first recorded: a replayed audience-scope change must not reach
    # revisions created after it.
    as_of: datetime | None = None


@dataclass(frozen=True)
class ForwardRequested:
    event_id: str
    data: Mapping[str, Any]
    origin: Origin | None = None


@dataclass(frozen=True)
class FeedbackReceived:
    event_id: str
    data: Mapping[str, Any]
    origin: Origin | None = None


@dataclass(frozen=True)
class Tick:
    """Time passed: release, expire and time out whatever is due."""

    event_id: str = "scheduler"


EarlyCommand = ApprovalDecided | ForwardRequested | FeedbackReceived
EARLY_KINDS: Mapping[str, type[EarlyCommand]] = {
    "approval-decision": ApprovalDecided,
    "forward-request": ForwardRequested,
    "review-feedback": FeedbackReceived,
}

Command = (
    PacketReady | ApprovalDecided | EvidenceChanged | ForwardRequested | FeedbackReceived | Tick
)
