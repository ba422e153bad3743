"""Offline verdict on a fault run: what went in, what came out, and what is lost, conflicting,
wrong or missing from the audit trail. Pure: no I/O, no clock (`now` is passed in).

Inputs are identified by their exact bytes (a resend of the same bytes is one input), outputs
by (topic, CloudEvent id). The rules are docs/contract.md read from the outside: the checker
knows only what the harness produced (and which approvals it made as genuine) and what the
service published, plus the /packets audit views when it is given them.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from tests.chaos.model import TERMINAL, Governance, Rev, canonical, index_revisions, ts
from tests.chaos.outcomes import predict
from tests.chaos.rules import audit_trail, forwards, manifests

Event = dict[str, Any]
FINDINGS = ("lost", "conflicting", "wrong", "audit", "missed", "premature")


@dataclass(frozen=True)
class Input:
    """One message the harness produced: its bytes and what the harness knows of it."""

    topic: str  # logical input topic
    raw: bytes
    dead: frozenset[str] = frozenset()  # dead-letter kinds it must get; empty: must be accepted
    genuine: bool = False  # approval-decision made by the harness as a real owner approval

    @cached_property
    def event(self) -> Event | None:
        try:
            doc = json.loads(self.raw)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) and isinstance(doc.get("data"), dict) else None

    @cached_property
    def event_id(self) -> str:
        return str((self.event or {}).get("id", ""))

    @cached_property
    def data(self) -> dict[str, Any]:
        return dict((self.event or {}).get("data") or {})

    @cached_property
    def sent_at(self) -> datetime | None:
        """The envelope's time: when the harness built it, so no later than it was sent."""
        try:
            return ts((self.event or {})["time"])
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class Output:
    """One record read back from an output topic (logical name)."""

    topic: str
    raw: bytes
    partition: int = 0
    offset: int = 0


@dataclass
class Report:
    lost: list[str] = field(default_factory=list)
    conflicting: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # had to happen, did not (or was refused)
    premature: list[str] = field(default_factory=list)  # before its due time or its cause
    counts: dict[str, int] = field(default_factory=dict)
    next_due: datetime | None = None  # earliest time-driven transition still to come

    @property
    def ok(self) -> bool:
        """No finding, and a run that recorded inputs and released something."""
        findings = [getattr(self, name) for name in FINDINGS]
        ran = self.counts.get("inputs", 0) > 0 and self.counts.get("manifests", 0) > 0
        return ran and not any(findings)

    def line(self) -> str:
        head = " ".join(f"{name}={len(getattr(self, name))}" for name in FINDINGS)
        return head + "".join(f" {k}={v}" for k, v in self.counts.items())

    def details(self, limit: int = 15) -> str:
        parts = []
        inputs, released = self.counts.get("inputs", 0), self.counts.get("manifests", 0)
        if not inputs or not released:
            parts.append(f"  ran: {inputs} inputs, {released} manifests")
        for name in FINDINGS:
            items: list[str] = getattr(self, name)
            parts += [f"  {name}: {item}" for item in items[:limit]]
            if len(items) > limit:
                parts.append(f"  {name}: ... and {len(items) - limit} more")
        return "\n".join(parts)


def new_outputs(before: Iterable[Output], after: Iterable[Output]) -> list[tuple[str, str]]:
    """(topic, id) of outputs in `after` whose id no output in `before` had, in order."""

    def key(out: Output) -> tuple[str, str]:
        try:
            return out.topic, str(json.loads(out.raw)["id"])
        except (ValueError, KeyError, TypeError):
            return out.topic, f"unreadable {out.partition}/{out.offset}"

    seen = {key(o) for o in before}
    found: list[tuple[str, str]] = []
    for out in after:
        if key(out) not in seen and key(out) not in found:
            found.append(key(out))
    return found


def check(
    inputs: Iterable[Input],
    outputs: Iterable[Output],
    *,
    now: datetime,
    governance: Governance,
    grace: timedelta = timedelta(seconds=10),
    views: Mapping[str, Mapping[str, Any] | None] | None = None,
    audit_ok: bool | None = None,
) -> Report:
    """Every check over one run. `governance`: the lanes the instances were given; `views`
    are /packets/{id} bodies (None for a 404)."""
    report = Report()
    produced = list(inputs)
    distinct = list({i.raw: i for i in produced}.values())
    events, variants, copies = _unique_outputs(outputs, report)
    revs = index_revisions(events, variants, distinct, report)
    dead = _dead_letters_by_input(events.get("dead-letter", {}), distinct, report)
    _account_inputs(distinct, revs, events, dead, report)
    _evidence_applied(distinct, revs, report)
    max_pending = {lane_id: lane.max_pending for lane_id, lane in governance.items()}
    _time_driven(revs, now, max_pending, grace, report)
    manifests(distinct, revs, report, governance)
    forwards(distinct, events, revs, report)
    predict(distinct, revs, events, governance, report)
    if views is not None:
        audit_trail(events, views, report)
    if audit_ok is False:
        report.audit.append("`python -m service audit verify` failed")
    report.counts = {
        "inputs": len(produced),
        "distinct_inputs": len(distinct),
        "malformed": sum(1 for i in distinct if i.dead),
        "outputs": copies,
        "distinct_outputs": sum(len(v) for v in events.values()),
        "duplicates": copies - sum(len(v) for v in events.values()),
        "manifests": len(events.get("release-manifest", {})),
        "dead_letters": len(events.get("dead-letter", {})),
        "refusals": sum(len(r.refusals) for r in revs.values()),
        "allowed": len(events.get("forward-allowed", {})),
        "blocked": len(events.get("blocked-forward", {})),
    }
    return report


def _unique_outputs(
    outputs: Iterable[Output], report: Report
) -> tuple[dict[str, dict[str, Event]], list[Event], int]:
    """First copy of each (topic, id); a copy with other `data` is a conflict (and kept)."""
    events: dict[str, dict[str, Event]] = defaultdict(dict)
    variants: list[Event] = []
    differing: dict[tuple[str, str], set[bytes]] = defaultdict(set)
    copies = 0
    for out in outputs:
        try:
            event = json.loads(out.raw)
            assert isinstance(event, dict) and isinstance(event.get("data"), dict)
            event_id = str(event["id"])
        except (ValueError, AssertionError, KeyError):
            report.wrong.append(f"unreadable output on {out.topic} {out.partition}/{out.offset}")
            continue
        copies += 1
        first = events[out.topic].get(event_id)
        if first is None:
            events[out.topic][event_id] = event
            continue
        body = canonical(event["data"])
        if body != canonical(first["data"]) and body not in differing[(out.topic, event_id)]:
            differing[(out.topic, event_id)].add(body)
            variants.append(event)
    for (topic, event_id), bodies in differing.items():
        first = events[topic][event_id]["data"]
        keys: set[str] = set()
        for body in bodies:
            other = json.loads(body)
            keys |= {k for k in set(first) | set(other) if first.get(k) != other.get(k)}
        report.conflicting.append(
            f"{topic} {event_id}: {len(bodies) + 1} versions under one id"
            f" (differing in {', '.join(sorted(keys))})"
        )
    _ids_unique_across_topics(events, report)
    return events, variants, copies


def _ids_unique_across_topics(events: Mapping[str, Mapping[str, Event]], report: Report) -> None:
    """A consumer of every output topic drops duplicates by id (source + id names one event):
    an id used on two topics would make it drop one of two different events."""
    topics_of: dict[str, set[str]] = defaultdict(set)
    for topic, by_id in events.items():
        for event_id in by_id:
            topics_of[event_id].add(topic)
    for event_id, topics in sorted(topics_of.items()):
        if len(topics) > 1:
            report.conflicting.append(f"{event_id}: one id on {', '.join(sorted(topics))}")


def _dead_letters_by_input(
    letters: Mapping[str, Event], inputs: list[Input], report: Report
) -> dict[bytes, list[Event]]:
    known = {i.raw for i in inputs}
    found: dict[bytes, list[Event]] = defaultdict(list)
    for event_id, letter in letters.items():
        try:
            raw = base64.b64decode(letter["data"]["raw_value"], validate=True)
        except (KeyError, ValueError):
            report.wrong.append(f"dead-letter {event_id} has no readable raw_value")
            continue
        if raw not in known:
            report.wrong.append(f"dead-letter {event_id} for bytes the harness never produced")
            continue
        found[raw].append(letter)
    return found


def _account_inputs(
    inputs: list[Input],
    revs: Mapping[tuple[str, int], Rev],
    events: Mapping[str, Mapping[str, Event]],
    dead: Mapping[bytes, list[Event]],
    report: Report,
) -> None:
    """Every input applied, a duplicate, refused with a reason, or dead-lettered."""
    outcomes: dict[str, set[str]] = defaultdict(set)
    for topic in ("forward-allowed", "blocked-forward"):
        for event in events.get(topic, {}).values():
            outcomes[str(event["data"].get("request_id"))].add(topic)
    for item in inputs:
        letters = dead.get(item.raw, [])
        kinds = {str(letter["data"].get("error_kind")) for letter in letters}
        name = f"{item.topic} {item.event_id or item.raw[:40]!r}"
        if item.dead:
            if not letters:
                report.lost.append(f"{name}: bad input never dead-lettered")
            elif not kinds <= item.dead:
                report.wrong.append(f"{name}: dead-lettered as {sorted(kinds)}, not {item.dead}")
            continue
        if letters:
            report.lost.append(f"{name}: good input dead-lettered as {sorted(kinds)}")
            continue
        data = item.data
        if item.topic == "packet-ready":
            rev = revs.get((data["packet_id"], int(data["revision"])))
            if rev is None or rev.accepted is None:
                report.lost.append(f"{name}: revision never created")
            elif rev.accepted.event_id != item.event_id and (
                rev.accepted.data.get("packet_hash") != data["packet_hash"]
            ):
                report.lost.append(f"{name}: neither created, duplicate, nor dead-lettered")
        elif item.topic == "approval-decision":
            rev = revs.get((data["packet_id"], int(data["revision"])))
            if rev is None or item.event_id not in rev.causes:
                report.lost.append(f"{name}: no lifecycle event caused by this decision")
        elif item.topic == "forward-request":
            seen = outcomes.get(str(data["request_id"]), set())
            if not seen:
                report.lost.append(f"{name}: neither forward-allowed nor blocked-forward")
            elif len(seen) > 1:
                report.conflicting.append(f"{name}: both allowed and blocked")


def _evidence_applied(
    inputs: list[Input], revs: Mapping[tuple[str, int], Rev], report: Report
) -> None:
    """A live revision may cite only the newest announced version of anything it cites."""
    latest: dict[tuple[str, str], str] = {}
    # Lane-wide audience-scope changes are not part of the chaos workload, so not checked.
    for item in inputs:
        if item.topic == "evidence-changed" and not item.dead:
            latest[(item.data["kind"], item.data["ref"])] = str(item.data["new_version"])
    for rev in revs.values():
        if rev.accepted is None or rev.final in TERMINAL:
            continue
        for ref in rev.accepted.data["evidence_refs"]:
            newest = latest.get((ref["kind"], ref["ref"]))
            if newest is not None and newest != ref["version"]:
                report.lost.append(
                    f"{rev.name} is {rev.final} but cites {ref['kind']} {ref['ref']} "
                    f"{ref['version']}, changed to {newest}"
                )
                break


def _time_driven(
    revs: Mapping[tuple[str, int], Rev],
    now: datetime,
    max_pending: Mapping[str, timedelta],
    grace: timedelta,
    report: Report,
) -> None:
    """Releases, expiries and approval timeouts that are due must have happened."""
    for rev in revs.values():
        due = rev.due(max_pending)
        if due is None:
            continue
        if due + grace < now:
            report.lost.append(f"{rev.name} still {rev.final}, due {due.isoformat()}")
        elif report.next_due is None or due < report.next_due:
            report.next_due = due
