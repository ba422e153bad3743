"""A revision as the outputs tell it: its lifecycle path, manifests and causes (pure)."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

if TYPE_CHECKING:
    from tests.chaos.checker import Input, Report

Event = dict[str, Any]
TERMINAL = frozenset({"superseded", "expired", "rejected"})
# docs/contract.md: the only moves a revision can make (None is "no state yet").
LEGAL = frozenset(
    {
        (None, "pending"),
        (None, "superseded"),
        (None, "rejected"),
        ("pending", "approved"),
        ("pending", "rejected"),
        ("pending", "expired"),
        ("pending", "superseded"),
        ("approved", "released"),
        ("approved", "expired"),
        ("approved", "superseded"),
        ("released", "expired"),
        ("released", "superseded"),
        ("approved", "rejected"),  # revoked by a release owner (schema version 2)
        ("released", "rejected"),
    }
)


def canonical(obj: Any) -> bytes:
    """RFC 8785 bytes: what "same content" means for two outputs."""
    return rfc8785.dumps(obj)


def ts(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00").replace("z", "+00:00"))


@dataclass(frozen=True)
class LaneSpec:
    """One lane of the governance the run's instances were given, as the checker needs it."""

    recipients: frozenset[str]
    owners: Mapping[str, bytes]  # release owner -> raw Ed25519 public key
    max_validity: timedelta
    max_pending: timedelta
    required: frozenset[str] = frozenset()
    quorum: int = 1  # distinct owners whose approvals, on identical terms, a release needs


Governance = Mapping[str, LaneSpec]


def signed_by(data: Mapping[str, Any], key: bytes) -> bool:
    """The approval's signature verifies with `key` over its RFC 8785 form (docs/contract.md)."""
    try:
        raw = base64.b64decode(str(data.get("signature", "")), validate=True)
        body = {k: v for k, v in data.items() if k != "signature"}
        Ed25519PublicKey.from_public_bytes(key).verify(raw, canonical(body))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass
class Rev:
    packet_id: str
    revision: int
    lifecycle: list[Event] = field(default_factory=list)
    manifests: list[Event] = field(default_factory=list)  # distinct by content
    accepted: Input | None = None  # the packet-ready that created it
    approval: Input | None = None  # the decision that approved it
    final: str | None = None
    entered: dict[str, datetime] = field(default_factory=dict)
    path: list[tuple[datetime, str]] = field(default_factory=list)  # (at, state entered)

    def states_at(self, at: datetime) -> set[str | None]:
        """The states the revision may have been in when something was decided at `at`: the
        one it was in just before, and any entered at that very instant (one decision can
        store a revision and decide what waited for it, in either order of the two)."""
        before: str | None = None
        ties: set[str | None] = set()
        for when, state in self.path:
            if when < at:
                before = state
            elif when == at:
                ties.add(state)
        return {before, *ties}

    @property
    def name(self) -> str:
        return f"{self.packet_id}@r{self.revision}"

    @property
    def creation(self) -> Event | None:
        return next((e for e in self.transitions if e["data"]["from_state"] is None), None)

    @property
    def created_at(self) -> datetime | None:
        return None if self.creation is None else ts(self.creation["data"]["at"])

    @property
    def transitions(self) -> list[Event]:
        return [e for e in self.lifecycle if e["data"]["from_state"] != e["data"]["to_state"]]

    @property
    def refusals(self) -> list[Event]:
        return [e for e in self.lifecycle if e["data"]["from_state"] == e["data"]["to_state"]]

    @property
    def causes(self) -> set[str]:
        return {str(e["data"]["cause_event_id"]) for e in self.lifecycle}

    def due(self, max_pending: Mapping[str, timedelta]) -> datetime | None:
        """When time alone must next move this revision, as far as the outputs show."""
        if self.final == "pending" and self.accepted is not None and self.created_at:
            limit = max_pending.get(str(self.accepted.data.get("lane_id")))
            return None if limit is None else self.created_at + limit
        if self.final == "approved" and self.approval is not None:
            data = self.approval.data
            return min(ts(data["valid_from"]), ts(data["valid_until"]))
        if self.final == "released" and self.manifests:
            return ts(self.manifests[0]["data"]["valid_until"])
        return None


def index_revisions(
    events: Mapping[str, Mapping[str, Event]],
    variants: Iterable[Event],
    inputs: Iterable[Input],
    report: Report,
) -> dict[tuple[str, int], Rev]:
    """Group lifecycle events and manifests by revision and walk each lifecycle path.

    `variants` are further copies of an id with other content: a second manifest counts.
    """
    by_id = {i.event_id: i for i in inputs if i.event_id and not i.dead}
    revs: dict[tuple[str, int], Rev] = {}

    def rev_of(data: Mapping[str, Any]) -> Rev:
        key = (str(data["packet_id"]), int(data["revision"]))
        return revs.setdefault(key, Rev(*key))

    for event in events.get("packet-lifecycle", {}).values():
        rev_of(event["data"]).lifecycle.append(event)
    manifests = [*events.get("release-manifest", {}).values()]
    manifests += [v for v in variants if v.get("type") == "release-manifest"]
    for event in manifests:
        rev = rev_of(event["data"])
        body = canonical(event["data"])
        if all(canonical(m["data"]) != body for m in rev.manifests):
            rev.manifests.append(event)
    for rev in revs.values():
        _walk(rev, by_id, report)
    return revs


def _walk(rev: Rev, by_id: Mapping[str, Input], report: Report) -> None:
    """Follow the path from "no state"; a fork, a gap or an illegal move is reported."""
    outgoing: dict[str | None, list[Event]] = defaultdict(list)
    for event in rev.transitions:
        d = event["data"]
        if (d["from_state"], d["to_state"]) not in LEGAL:
            report.wrong.append(f"{rev.name}: illegal move {d['from_state']} -> {d['to_state']}")
        outgoing[d["from_state"]].append(event)
    for origin, moves in outgoing.items():
        if len(moves) > 1:
            shown = ", ".join(sorted(json.dumps(m["data"]["to_state"]) for m in moves))
            report.conflicting.append(f"{rev.name}: forked from {origin}: {shown}")
    state: str | None = None
    walked: set[str] = set()
    while state in outgoing and state not in TERMINAL:
        event = outgoing[state][0]
        if event["id"] in walked:
            break
        walked.add(event["id"])
        state = event["data"]["to_state"]
        assert state is not None
        rev.entered[state] = ts(event["data"]["at"])
        cause = by_id.get(str(event["data"]["cause_event_id"]))
        if event["data"]["from_state"] is None and cause and cause.topic == "packet-ready":
            rev.accepted = cause
        if state == "approved" and cause and cause.topic == "approval-decision":
            rev.approval = cause
    rev.final = state
    # Every move in time order, including one after a gap (reported below): what a forward
    # or an approval decided at some instant saw.
    moves = [(ts(e["data"]["at"]), str(e["data"]["to_state"])) for e in rev.transitions]
    rev.path = sorted(moves, key=lambda move: move[0])
    reached = {None, *rev.entered}
    for event in rev.transitions:
        d = event["data"]
        if event["id"] not in walked and d["from_state"] not in reached:  # forks: reported
            report.lost.append(
                f"{rev.name}: saw {d['from_state']} -> {d['to_state']} but never the move"
                f" into {d['from_state']}"
            )
