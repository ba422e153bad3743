"""Commands decide() understands: one per input topic, plus the clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EvidenceVersion:
    """The newest version of one cited item the service has been told of, and by whom."""

    version: str
    event_id: str


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


@dataclass(frozen=True)
class FeedbackReceived:
    event_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Tick:
    """Time passed: release, expire and time out whatever is due."""

    event_id: str = "scheduler"


Command = (
    PacketReady | ApprovalDecided | EvidenceChanged | ForwardRequested | FeedbackReceived | Tick
)
