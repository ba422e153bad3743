"""What must never be published: a wrong release, a wrong forward, a fact missing from the
audit trail (pure; used by the checker)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.chaos.model import TERMINAL, Event, Governance, Rev, canonical, ts

if TYPE_CHECKING:
    from tests.chaos.checker import Input, Report


def manifests(
    inputs: list[Input],
    revs: Mapping[tuple[str, int], Rev],
    report: Report,
    governance: Governance | None = None,
) -> None:
    genuine = {
        i.data["decision_id"]: i.data
        for i in inputs
        if i.topic == "approval-decision" and i.genuine and i.data.get("decision") == "approve"
    }
    higher: dict[str, list[Rev]] = defaultdict(list)
    for rev in revs.values():
        if rev.creation is not None:
            higher[rev.packet_id].append(rev)
    news = _evidence_news(inputs, revs)
    for rev in revs.values():
        if len(rev.manifests) > 1:
            report.conflicting.append(f"{rev.name}: {len(rev.manifests)} distinct manifests")
        for event in rev.manifests:
            lane = (governance or {}).get(str(event["data"].get("lane_id")))
            problems = [
                *_manifest_problems(rev, event, genuine, higher[rev.packet_id]),
                *_quorum_problems(rev, event["data"], genuine, 1 if lane is None else lane.quorum),
                *_stale_release(event["data"], news),
            ]
            report.wrong += [f"manifest {rev.name}: {problem}" for problem in problems]


News = Mapping[tuple[str, str], list[tuple[str, datetime]]]


def _evidence_news(inputs: list[Input], revs: Mapping[tuple[str, int], Rev]) -> News:
    """For each (kind, ref): the versions it changed to, and the first moment the service is
    seen acting on each change (its earliest lifecycle effect); by then it was recorded."""
    first: dict[str, datetime] = {}
    for rev in revs.values():
        for event in rev.lifecycle:
            cause, at = str(event["data"]["cause_event_id"]), ts(event["data"]["at"])
            first[cause] = min(at, first.get(cause, at))
    news: dict[tuple[str, str], list[tuple[str, datetime]]] = defaultdict(list)
    for item in inputs:
        if item.topic == "evidence-changed" and not item.dead and item.event_id in first:
            key = (str(item.data["kind"]), str(item.data["ref"]))
            news[key].append((str(item.data["new_version"]), first[item.event_id]))
    return news


# A decision that read the evidence just before a change was recorded may land just after
# the change's first effect elsewhere; only a gap longer than this is a stale decision.
STALE_SLACK = timedelta(seconds=1)


def _stale(m: Mapping[str, Any], at: datetime, news: News) -> Iterable[str]:
    """Decided at `at` on a revision citing a version the service already knew had changed
    (versions in the workload only move forward: a change is never undone by a later one)."""
    for ref in m.get("evidence_refs", []):
        for version, known in news.get((ref["kind"], ref["ref"]), []):
            if version != ref["version"] and known + STALE_SLACK < at:
                yield (
                    f"at {at.isoformat()} it cites {ref['kind']} {ref['ref']} {ref['version']},"
                    f" known changed to {version} since {known.isoformat()}"
                )


def _stale_release(m: Mapping[str, Any], news: News) -> Iterable[str]:
    return (f"released {problem}" for problem in _stale(m, ts(m["released_at"]), news))


_APPROVAL_FIELDS = ("packet_id", "revision", "lane_id", "packet_hash", "option_set_hash")
_PACKET_FIELDS = (
    "lane_id",
    "packet_hash",
    "option_set_hash",
    "options",
    "blocked_requests",
    "evidence_refs",
)


def _manifest_problems(
    rev: Rev, event: Event, genuine: Mapping[str, Mapping[str, Any]], siblings: list[Rev]
) -> Iterable[str]:
    m = event["data"]
    if event["id"] != f"{rev.name}:released" or m.get("manifest_id") != rev.name:
        yield f"event id {event['id']} / manifest_id {m.get('manifest_id')}"
    body = {k: v for k, v in m.items() if k not in ("manifest_hash", "attestation")}
    if m.get("manifest_hash") != "sha256:" + hashlib.sha256(canonical(body)).hexdigest():
        yield "manifest_hash does not match its content"
    if rev.accepted is None:
        yield "no packet-ready from the harness was created as this revision"
    else:
        for key in _PACKET_FIELDS:
            if m.get(key) != rev.accepted.data.get(key):
                yield f"{key} differs from the packet-ready"
    approval = genuine.get(str(m.get("decision_id")))
    if approval is None:
        yield f"decision {m.get('decision_id')} is not a genuine owner approval"
    else:
        for key in _APPROVAL_FIELDS:
            if m.get(key) != approval.get(key):
                yield f"{key} differs from genuine approval {m['decision_id']}"
        if m.get("audience") != approval.get("audience") or m.get("approver") != approval.get(
            "approver"
        ):
            yield "audience or approver differs from the approval"
        for key in ("valid_from", "valid_until"):
            if ts(m[key]) != ts(approval[key]):
                yield f"{key} differs from the approval"
    released = ts(m["released_at"])
    if not ts(m["valid_from"]) <= released < ts(m["valid_until"]):
        yield f"released at {m['released_at']} outside its window"
    for state, event_at in rev.entered.items():
        if state in TERMINAL and event_at < released:
            yield f"released at {m['released_at']} after it was {state} at {event_at.isoformat()}"
    for other in siblings:
        if other.revision > rev.revision and other.created_at and other.created_at < released:
            yield f"released after r{other.revision} arrived at {other.created_at.isoformat()}"


_TERMS = ("audience", "valid_from", "valid_until", "packet_hash", "option_set_hash")


def _quorum_problems(
    rev: Rev, m: Mapping[str, Any], genuine: Mapping[str, Mapping[str, Any]], required: int
) -> Iterable[str]:
    """Every approval a manifest lists is a genuine owner's of this revision on the manifest's
    terms, and at least `required` distinct owners gave one."""
    listed = m.get("approvals") or [{"decision_id": m.get("decision_id")}]
    signers = set()
    for entry in listed:
        approval = genuine.get(str(entry.get("decision_id")))
        if approval is None or approval.get("revision") != rev.revision:
            yield f"listed approval {entry.get('decision_id')} is not a genuine one of {rev.name}"
            continue
        if any(_term(approval, t) != _term(m, t) for t in _TERMS):
            yield f"listed approval {entry.get('decision_id')} has other terms than the manifest"
            continue
        signers.add(str(approval["approver"]))
    if len(signers) < required:
        yield f"released with {len(signers)} distinct approvers; the lane requires {required}"


def _term(data: Mapping[str, Any], name: str) -> object:
    value = data.get(name)
    if name == "audience":
        return sorted(value or [])
    return ts(value) if name.startswith("valid_") and value else value


def forwards(
    inputs: list[Input],
    events: Mapping[str, Mapping[str, Event]],
    revs: Mapping[tuple[str, int], Rev],
    report: Report,
) -> None:
    """A forward is allowed only inside the audience of a live, in-window, fresh release."""
    news = _evidence_news(inputs, revs)
    for event_id, event in events.get("forward-allowed", {}).items():
        f = event["data"]
        rev = revs.get((str(f.get("packet_id")), int(f.get("revision") or 0)))
        if rev is None or not rev.manifests:
            report.wrong.append(f"forward-allowed {event_id} for a revision never released")
            continue
        m = rev.manifests[0]["data"]
        at = ts(event["time"])
        outside = [r for r in f.get("recipients", []) if r not in m["audience"]]
        if outside:
            report.wrong.append(f"forward-allowed {event_id} outside the audience: {outside}")
        if f.get("manifest_id") != rev.name:
            report.wrong.append(f"forward-allowed {event_id} names {f.get('manifest_id')}")
        if not ts(m["released_at"]) <= at < ts(m["valid_until"]) or at < ts(m["valid_from"]):
            report.wrong.append(f"forward-allowed {event_id} at {event['time']} outside window")
        for state, event_at in rev.entered.items():
            if state in TERMINAL and event_at < at:
                report.wrong.append(f"forward-allowed {event_id} after {rev.name} was {state}")
        for problem in _stale(m, at, news):
            report.wrong.append(f"forward-allowed {event_id}: {problem}")


def audit_trail(
    events: Mapping[str, Mapping[str, Event]],
    views: Mapping[str, Mapping[str, Any] | None],
    report: Report,
) -> None:
    """Blocked forwards and refusals are facts in the packet's audit trail; chains verify."""
    facts: dict[str, list[Event]] = defaultdict(list)
    for packet_id, view in views.items():
        for revision in (view or {}).get("revisions", []):
            if revision.get("chain") != "ok":
                report.audit.append(f"{revision.get('manifest_id')}: chain {revision['chain']}")
            facts[packet_id].extend(revision.get("facts", []))
    for event_id, event in events.get("blocked-forward", {}).items():
        d = event["data"]
        if not any(
            f["kind"] == "forward-blocked" and f["data"].get("request_id") == d["request_id"]
            for f in facts.get(str(d["packet_id"]), [])
        ):
            report.audit.append(f"blocked-forward {event_id} has no fact in /packets")
    for event_id, event in events.get("packet-lifecycle", {}).items():
        d = event["data"]
        if d["from_state"] != d["to_state"]:
            continue
        if not any(
            f["kind"] == "refused"
            and f["cause_event_id"] == d["cause_event_id"]
            and f["revision"] == d["revision"]
            for f in facts.get(str(d["packet_id"]), [])
        ):
            report.audit.append(f"refusal {event_id} has no fact in /packets")
