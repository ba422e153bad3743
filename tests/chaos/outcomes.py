"""What must come of every input, predicted from the recorded inputs and the governance alone
(pure; used by the checker; nothing from service/).

For each packet-ready, approval and forward the model says which outcomes are acceptable, and
the checker compares that with what the service published:

* **missed**: an outcome that had to happen did not, or came as a refusal or a block (an
  approval that had to be approved was refused, a forward that had to be allowed was blocked,
  a revision left live under a newer one);
* **premature**: an expiry, an approval timeout or a supersession before its due time or
  without its cause among the inputs;
* **wrong**: a refusal, block or creation with another reason than the rules give.

Kafka orders nothing across topics, so most outcomes depend on what was decided first. Where
the inputs settle it (a revision nothing else can end before its one approval is decided:
known lane, evidence complete and never changed, no newer revision, a long approval timeout),
the model predicts exactly, whatever the interleaving. Where they race (an approval and an
evidence change, a forward and the release it asks about, an approval and a short timeout),
either outcome is acceptable, but only one the rules give for a state the revision was
actually in when the outcome was decided, as the service's own lifecycle events time it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.chaos.model import TERMINAL, Event, Governance, Rev, signed_by, ts

if TYPE_CHECKING:
    from tests.chaos.checker import Input, Report

# An approval timeout shorter than this may race the approval itself: not predicted exactly.
RACY_TIMEOUT = timedelta(minutes=10)
MAX_RECIPIENTS = 50
Key = tuple[str, int]


class Inputs:
    """The recorded inputs, indexed the way the predictions read them."""

    def __init__(self, inputs: Sequence[Input]) -> None:
        self.packets: dict[Key, Input] = {}  # the first good packet-ready per revision
        self.approvals: dict[Key, list[Input]] = defaultdict(list)
        self.forwards: list[Input] = []
        self.changes: dict[tuple[str, str], list[Input]] = defaultdict(list)
        for item in inputs:
            if item.dead:
                continue
            data = item.data
            if item.topic == "packet-ready":
                self.packets.setdefault((data["packet_id"], int(data["revision"])), item)
            elif item.topic == "approval-decision":
                self.approvals[(data["packet_id"], int(data["revision"]))].append(item)
            elif item.topic == "forward-request":
                self.forwards.append(item)
            elif item.topic == "evidence-changed":
                self.changes[(str(data["kind"]), str(data["ref"]))].append(item)

    def newer(self, key: Key) -> list[Input]:
        return [i for (pid, r), i in self.packets.items() if pid == key[0] and r > key[1]]

    def changed(self, packet: Mapping[str, Any]) -> list[Input]:
        """Evidence changes that make a revision of this packet stale, in production order."""
        found = [
            change
            for ref in packet["evidence_refs"]
            for change in self.changes.get((ref["kind"], ref["ref"]), [])
            if str(change.data["new_version"]) != ref["version"]
        ]
        return found + self.changes.get(("audience-scope", str(packet["lane_id"])), [])


def predict(
    inputs: Sequence[Input],
    revs: Mapping[Key, Rev],
    events: Mapping[str, Mapping[str, Event]],
    governance: Governance,
    report: Report,
) -> None:
    known = Inputs(inputs)
    _creations(known, revs, governance, report)
    _approvals(known, revs, governance, report)
    _forwards(known, revs, events, report)
    _premature(known, revs, governance, report)
    _newer_supersedes(revs, report)


# --- packet-ready --------------------------------------------------------------------------


def _creations(
    known: Inputs, revs: Mapping[Key, Rev], governance: Governance, report: Report
) -> None:
    """A revision is created pending, or rejected or out of order for the reason the rules give."""
    for key, rev in revs.items():
        creation = rev.creation
        item = rev.accepted or known.packets.get(key)
        if creation is None or item is None:
            continue
        at, data = ts(creation["data"]["at"]), item.data
        lane = governance.get(str(data["lane_id"]))
        cited = {ref["kind"] for ref in data["evidence_refs"]}
        if lane is None:
            allowed = {("rejected", "unknown-lane")}
        elif not lane.required <= cited:
            allowed = {("rejected", "evidence-incomplete")}
        else:
            allowed = set()
            for (pid, r), other in revs.items():
                made = other.created_at
                if pid == key[0] and r > key[1] and made is not None and made <= at:
                    allowed.add(("superseded", "out-of-order"))
                    if made == at:
                        allowed.add(("pending", "packet-ready"))
            allowed = allowed or {("pending", "packet-ready")}
        got = (creation["data"]["to_state"], creation["data"]["reason"])
        if got not in allowed:
            report.wrong.append(f"{rev.name} created {got}, the rules give {sorted(allowed)}")


# --- approvals -----------------------------------------------------------------------------


def approval_check(
    data: Mapping[str, Any],
    packet: Mapping[str, Any] | None,
    state: str | None,
    governance: Governance,
    at: datetime,
) -> str:
    """The outcome the contract's approval checks give, in their order, for a revision in
    `state` (None: not stored) decided at `at`: approved, rejected or refused:<reason>."""
    if packet is None or state is None:
        return "refused:unknown-revision"
    lane = governance.get(str(packet["lane_id"]))
    key = None if lane is None else lane.owners.get(str(data["approver"]))
    if lane is None or key is None:
        return "refused:not-release-owner"
    if not signed_by(data, key):
        return "refused:bad-signature"
    approve = data["decision"] == "approve"
    if approve and data["approver"] == packet["prepared_by"]:
        return "refused:self-approval"
    if state != "pending":
        return "refused:not-pending"
    if data["lane_id"] != packet["lane_id"]:
        return "refused:lane-mismatch"
    if any(data[k] != packet[k] for k in ("packet_hash", "option_set_hash")):
        return "refused:hash-mismatch"
    if not approve:
        return "rejected"
    audience = list(data.get("audience") or [])
    if not audience or not set(audience) <= lane.recipients:
        return "refused:audience-out-of-scope"
    start, end = ts(data["valid_from"]), ts(data["valid_until"])
    if start >= end or end - start > lane.max_validity or end <= at:
        return "refused:bad-window"
    return "approved"


def settled(known: Inputs, key: Key, governance: Governance) -> bool:
    """Whether the inputs alone leave the revision pending until its one approval is decided."""
    item = known.packets.get(key)
    if item is None:
        return False
    lane = governance.get(str(item.data["lane_id"]))
    cited = {ref["kind"] for ref in item.data["evidence_refs"]}
    return (
        lane is not None
        and lane.required <= cited
        and lane.max_pending >= RACY_TIMEOUT
        and len(known.approvals[key]) == 1
        and not known.newer(key)
        and not known.changed(item.data)
    )


def approval_outcome(rev: Rev, event_id: str) -> tuple[str, datetime] | None:
    """What came of one approval: its state change or its refusal, and when it was decided."""
    caused = [e for e in rev.lifecycle if e["data"]["cause_event_id"] == event_id]
    for event in sorted(caused, key=lambda e: ts(e["data"]["at"])):
        d = event["data"]
        if d["from_state"] == d["to_state"]:
            return f"refused:{d['reason']}", ts(d["at"])
        if d["to_state"] in ("approved", "released"):
            return "approved", ts(d["at"])
        if d["to_state"] == "rejected" and d["reason"] == "rejected-by-owner":
            return "rejected", ts(d["at"])
    return None


def _approvals(
    known: Inputs, revs: Mapping[Key, Rev], governance: Governance, report: Report
) -> None:
    for key, items in known.approvals.items():
        rev = revs.get(key)
        if rev is None:
            continue  # no outcome at all: lost, as the checker's accounting says
        packet = None if known.packets.get(key) is None else known.packets[key].data
        exact = settled(known, key, governance)
        for item in items:
            outcome = approval_outcome(rev, item.event_id)
            if outcome is None:
                continue
            got, at = outcome
            if exact:  # pending, unless not stored yet when it was decided
                stored = rev.created_at is not None and rev.created_at < at
                states: set[str | None] = {"pending"} if stored else {"pending", None}
            else:
                states = rev.states_at(at)
            allowed = {approval_check(item.data, packet, s, governance, at) for s in states}
            if got in allowed:
                continue
            what = (
                f"approval {item.event_id} of {rev.name}: {got}, the rules give {sorted(allowed)}"
            )
            if "approved" in allowed and got != "approved":
                report.missed.append(what)
            else:
                report.wrong.append(what)


# --- forwards ------------------------------------------------------------------------------


def forward_check(
    data: Mapping[str, Any], state: str | None, packet_known: bool, rev: Rev | None
) -> str:
    """The outcome the blocked-forward reasons give, in their order: allowed or blocked:<reason>."""
    name = f"{data['packet_id']}@r{data['revision']}"
    if not packet_known:
        return "blocked:unknown-packet"
    if state is None or rev is None:
        return "blocked:revision-mismatch"
    if data["manifest_id"] != name:
        return "blocked:manifest-mismatch"
    if state in ("superseded", "expired"):
        return f"blocked:{state}"
    if state != "released" or not rev.manifests:
        return "blocked:not-released"
    recipients = list(data.get("recipients") or [])
    audience = set(rev.manifests[0]["data"]["audience"])
    if not recipients or len(recipients) > MAX_RECIPIENTS or not set(recipients) <= audience:
        return "blocked:outside-audience"
    return "allowed"


def _forwards(
    known: Inputs,
    revs: Mapping[Key, Rev],
    events: Mapping[str, Mapping[str, Event]],
    report: Report,
) -> None:
    outcomes: dict[str, tuple[str, datetime]] = {}
    for topic, label in (("forward-allowed", "allowed"), ("blocked-forward", "blocked")):
        for event in events.get(topic, {}).values():
            d = event["data"]
            reason = "" if label == "allowed" else f":{d.get('reason')}"
            outcomes.setdefault(str(d.get("request_id")), (label + reason, ts(event["time"])))
    for item in known.forwards:
        data = item.data
        outcome = outcomes.get(str(data["request_id"]))
        if outcome is None:
            continue  # lost, as the checker's accounting says
        got, at = outcome
        pid, number = str(data["packet_id"]), int(data["revision"])
        rev = revs.get((pid, number))
        created = [r.created_at for (p, _), r in revs.items() if p == pid and r.created_at]
        known_packet = {any(c < at for c in created)} | ({True} if at in created else set())
        allowed = set()
        for state in {None} if rev is None else rev.states_at(at):
            for packet_known in {True} if state is not None else known_packet:
                allowed.add(forward_check(data, state, packet_known, rev))
        if got in allowed:
            continue
        what = f"forward {data['request_id']} to {pid}@r{number}: {got}, the rules give"
        what += f" {sorted(allowed)} at {at.isoformat()}"
        (report.missed if "allowed" in allowed else report.wrong).append(what)


# --- time and supersession -----------------------------------------------------------------


def _produced_by(items: Sequence[Input], at: datetime) -> bool:
    return any(i.sent_at is None or i.sent_at <= at for i in items)


def _premature(
    known: Inputs, revs: Mapping[Key, Rev], governance: Governance, report: Report
) -> None:
    """Every expiry at or after its due time, every supersession after its cause."""
    for key, rev in revs.items():
        item = rev.accepted or known.packets.get(key)
        for event in rev.transitions:
            d = event["data"]
            at, reason = ts(d["at"]), d["reason"]
            problem = None
            if reason == "approval-timeout":
                lane = None if item is None else governance.get(str(item.data["lane_id"]))
                due = (
                    None
                    if lane is None or not rev.created_at
                    else rev.created_at + lane.max_pending
                )
                if due is None or at < due:
                    problem = f"timed out at {at.isoformat()}, due {due and due.isoformat()}"
            elif reason == "validity-ended":
                until = _valid_until(rev)
                if until is None or at < until:
                    problem = (
                        f"expired at {at.isoformat()}, valid until {until and until.isoformat()}"
                    )
            elif reason == "newer-revision":
                if not _produced_by(known.newer(key), at):
                    problem = f"superseded at {at.isoformat()} with no newer revision sent"
            elif reason == "evidence-changed":
                if item is None or not _produced_by(known.changed(item.data), at):
                    problem = f"superseded at {at.isoformat()} with no change of its evidence"
            elif reason == "release-check-failed":
                problem = f"re-check failed at {at.isoformat()} under unchanged governance"
            if problem:
                report.premature.append(
                    f"{rev.name} {d['from_state']} -> {d['to_state']}: {problem}"
                )


def _valid_until(rev: Rev) -> datetime | None:
    if rev.manifests:
        return ts(rev.manifests[0]["data"]["valid_until"])
    if rev.approval is not None:
        return ts(rev.approval.data["valid_until"])
    return None


def _newer_supersedes(revs: Mapping[Key, Rev], report: Report) -> None:
    """Once a newer revision of a packet is stored, no older one stays live."""
    for (pid, number), rev in revs.items():
        if rev.final is None or rev.final in TERMINAL:
            continue
        newer = [r for (p, n), r in revs.items() if p == pid and n > number and r.created_at]
        if newer:
            report.missed.append(f"{rev.name} still {rev.final} under r{newer[0].revision}")
