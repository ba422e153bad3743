"""An independent reference model of the release gate's rules (docs/contract.md), for the
property test over random histories (test_history_properties.py).

Nothing here imports from service/: the model keeps its own view of every revision, predicts
each fact decide() must append and each event it must publish, and computes hashes,
signatures and the fact chain with its own code (hashlib, json, cryptography). The contract
digests are RFC 8785; for the data these histories hold (strings, integers, booleans, null and
ASCII keys) RFC 8785 is exactly sorted-key, whitespace-free UTF-8 JSON, which
test_history_properties.py checks once against tests/fixtures/contract/vectors.json.

Where the implementation and the contract could differ, the model follows the contract: a
revision's time-driven moves depend only on its own state and window, never on the grace of
an event held for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

TERMINAL = frozenset({"superseded", "expired", "rejected"})
LIVE = frozenset({"pending", "approved", "released"})
TRANSITION_KINDS = frozenset(
    {"created", "approved", "released", "superseded", "expired", "rejected", "revoked"}
)
# What every approval of one quorum must agree on.
TERMS = ("packet_hash", "option_set_hash", "audience", "valid_from", "valid_until")
MAX_RECIPIENTS = 50
MAX_SHOWN = 512

# --- the contract's hashes and signatures, and the chain, from first principles ---------


def canonical(obj: Any) -> bytes:
    """RFC 8785 bytes of JSON made of strings, integers, booleans, null, lists and objects
    with ASCII keys (no floats: the one place JCS and sorted-key JSON would part)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(obj)).hexdigest()


def without(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def sign(data: Mapping[str, Any], seed: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return base64.b64encode(key.sign(canonical(without(data, "signature")))).decode()


def public_key(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def verifies(data: Mapping[str, Any], key: bytes) -> bool:
    try:
        raw = base64.b64decode(str(data.get("signature", "")), validate=True)
        Ed25519PublicKey.from_public_bytes(key).verify(raw, canonical(without(data, "signature")))
    except (InvalidSignature, ValueError):
        return False
    return True


def chain_hash(content: Mapping[str, Any]) -> str:
    """docs/decisions/0003: SHA-256 of the fact as sorted-key, compact, UTF-8 JSON."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def text_time(dt: datetime) -> str:
    assert dt.microsecond == 0, "the histories use whole seconds"
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def shown(text: str) -> str:
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    if len(escaped) <= MAX_SHOWN:
        return escaped
    return f"{escaped[:MAX_SHOWN]}…(+{len(escaped) - MAX_SHOWN})"


# --- governance, as the model sees it -----------------------------------------------------


@dataclass(frozen=True)
class LaneRules:
    lane_id: str
    recipients: tuple[str, ...]
    max_validity: timedelta
    max_pending: timedelta
    required: tuple[str, ...]
    owners: Mapping[str, bytes]  # identity -> raw public key
    quorum: int = 1  # distinct owners who must approve on identical terms


Rules = Mapping[str, LaneRules]

# --- what the model expects decide() to produce ------------------------------------------


@dataclass(frozen=True)
class Out:
    """One event to publish, with the free-text `detail` / `error_detail` left out."""

    topic: str
    key: str
    id: str
    subject: str
    at: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Expected:
    revision: int
    kind: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    cause: str
    at: str
    outbox: tuple[Out, ...]


@dataclass(frozen=True)
class Verdict:
    facts: tuple[Expected, ...]
    outcome: str
    dead_letter: str | None


@dataclass
class Held:
    event_id: str
    topic: str
    data: Mapping[str, Any]
    due: datetime
    origin: Mapping[str, Any] | None


@dataclass
class Rev:
    number: int
    state: str | None = None
    packet: Mapping[str, Any] | None = None
    ready_at: datetime | None = None
    max_pending: timedelta | None = None
    approval: Mapping[str, Any] | None = None
    approvals: list[Mapping[str, Any]] = field(default_factory=list)  # counted so far
    revoked: bool = False
    approved_at: datetime | None = None
    manifest: Mapping[str, Any] | None = None
    causes: set[str] = field(default_factory=set)
    decision_ids: set[str] = field(default_factory=set)
    request_ids: set[str] = field(default_factory=set)
    feedback_ids: set[str] = field(default_factory=set)
    held: list[Held] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.packet is not None

    @property
    def live(self) -> bool:
        return self.state in LIVE

    def cites(self) -> list[tuple[str, str, str]]:
        refs = [] if self.packet is None else self.packet["evidence_refs"]
        return [(e["kind"], e["ref"], e["version"]) for e in refs]

    def window(self) -> tuple[datetime, datetime] | None:
        if self.approval is None:
            return None
        return read_time(self.approval["valid_from"]), read_time(self.approval["valid_until"])


@dataclass(frozen=True)
class Command:
    """An input as the model takes it: kind is ready, approval, evidence, forward, feedback
    or tick; `evidence` is what a packet-ready is told of the newest announced versions."""

    kind: str
    event_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[tuple[str, str], str] = field(default_factory=dict)
    origin: Mapping[str, Any] | None = None
    as_of: datetime | None = None


EARLY_TOPICS = {
    "approval": "approval-decision",
    "forward": "forward-request",
    "feedback": "review-feedback",
}


class PacketModel:
    """One packet's revisions, and what a correct gate does with each command."""

    def __init__(self, packet_id: str) -> None:
        self.packet_id = packet_id
        self.revs: dict[int, Rev] = {}
        # per call
        self.now = datetime.min.replace(tzinfo=UTC)
        self.cause = ""
        self.facts: list[Expected] = []
        self.refused = False
        self.parked = False

    # -- the view --

    def rev(self, number: int) -> Rev:
        if number not in self.revs:
            self.revs[number] = Rev(number)
        return self.revs[number]

    def peek(self, number: int) -> Rev | None:
        return self.revs.get(number)

    def newest_created(self) -> int | None:
        return max((n for n, r in self.revs.items() if r.created), default=None)

    def states(self) -> dict[int, str | None]:
        return {n: r.state for n, r in self.revs.items() if r.state is not None}

    def held_ids(self) -> list[str]:
        return [h.event_id for n in sorted(self.revs) for h in self.revs[n].held]

    def mid(self, number: int) -> str:
        return f"{self.packet_id}@r{number}"

    # -- appending --

    def _append(
        self,
        number: int,
        kind: str,
        to_state: str | None,
        reason: str,
        outbox: tuple[Out, ...] = (),
        **view: Any,
    ) -> None:
        rev = self.rev(number)
        before = rev.state
        after = to_state if kind in TRANSITION_KINDS else before
        self.facts.append(
            Expected(number, kind, before, after, reason, self.cause, text_time(self.now), outbox)
        )
        rev.state = after
        rev.causes.add(self.cause)
        for name, value in view.items():
            setattr(rev, name, value)
        if kind != "parked":
            rev.held = [h for h in rev.held if h.event_id != self.cause]

    def _lifecycle(
        self,
        number: int,
        to_state: str | None,
        reason: str,
        superseded_by: int | None = None,
        tag: str = "refused",
        **version2: Any,
    ) -> Out:
        before = self.rev(number).state
        mid = self.mid(number)
        name = f"{mid}:lifecycle:{to_state}" if before != to_state else f"{mid}:{tag}:{self.cause}"
        data = {
            "packet_id": self.packet_id,
            "revision": number,
            "from_state": before,
            "to_state": to_state,
            "reason": reason,
            "cause_event_id": self.cause,
            "superseded_by": superseded_by,
            "at": text_time(self.now),
            **version2,
        }
        return Out("packet-lifecycle", self.packet_id, name, self.packet_id, data["at"], data)

    def _move(
        self,
        number: int,
        kind: str,
        to_state: str,
        reason: str,
        extra: tuple[Out, ...] = (),
        superseded_by: int | None = None,
        **view: Any,
    ) -> None:
        note = self._lifecycle(number, to_state, reason, superseded_by)
        self._append(number, kind, to_state, reason, (*extra, note), **view)

    def _supersede(self, number: int, reason: str, superseded_by: int | None = None) -> None:
        self._move(number, "superseded", "superseded", reason, superseded_by=superseded_by)

    def _refuse(self, number: int, reason: str) -> None:
        state = self.rev(number).state
        self._append(number, "refused", None, reason, (self._lifecycle(number, state, reason),))
        self.refused = True

    # -- one call --

    def decide(
        self,
        command: Command,
        now: datetime,
        rules: Rules,
        announced: Mapping[tuple[str, str], str],
        per_packet: int,
        grace: timedelta,
    ) -> Verdict:
        self.now, self.cause, self.facts = now, command.event_id, []
        self.refused = self.parked = False
        seen = any(command.event_id in r.causes for r in self.revs.values())
        known = {**announced, **command.evidence}
        self._stale_evidence(known)
        self._older_superseded(0)
        self._time(rules)
        self._settle(rules)
        dead: str | None = None
        duplicate = seen
        if command.kind == "ready":
            dead, duplicate = self._ready(command, rules)
        elif command.kind == "evidence":
            if not seen:
                self._evidence(command)
        elif command.kind in EARLY_TOPICS and not seen:
            dead, duplicate = self._early(command, rules, per_packet, grace)
        self._settle(rules)
        if dead:
            outcome = "dead-lettered"
        elif self.refused:
            outcome = "refused"
        elif self.parked:
            outcome = "parked"
        else:
            outcome = "duplicate" if duplicate else "applied"
        return Verdict(tuple(self.facts), outcome, dead)

    # -- what comes before any command --

    def _stale_evidence(self, known: Mapping[tuple[str, str], str]) -> None:
        for number in sorted(self.revs):
            rev = self.revs[number]
            stale = any(known.get((k, r), v) != v for k, r, v in rev.cites())
            if rev.created and rev.live and stale:
                self._supersede(number, "evidence-changed")

    def _older_superseded(self, arriving: int) -> None:
        newest = max(self.newest_created() or 0, arriving)
        for number in sorted(self.revs):
            rev = self.revs[number]
            if number < newest and rev.created and rev.live:
                self._supersede(number, "newer-revision", newest)

    def _time(self, rules: Rules) -> None:
        for number in sorted(self.revs):
            rev = self.revs[number]
            window = rev.window()
            if rev.state == "pending":
                assert rev.ready_at is not None and rev.max_pending is not None
                if rev.ready_at + rev.max_pending <= self.now:
                    self._move(number, "expired", "expired", "approval-timeout")
            elif rev.state in ("approved", "released") and window is not None:
                if window[1] <= self.now:
                    self._move(number, "expired", "expired", "validity-ended")
                elif rev.state == "approved" and window[0] <= self.now:
                    self._release(number, rules)

    def _settle(self, rules: Rules) -> None:
        for number in sorted(self.revs):
            for held in list(self.revs[number].held):
                if not self.revs[number].created and held.due > self.now:
                    continue
                outer, self.cause = self.cause, held.event_id
                try:
                    self._decide_now(held.topic, held.data, held.origin, rules, settling=True)
                    if any(h.event_id == held.event_id for h in self.revs[number].held):
                        # its id was decided meanwhile: a record, and it is held no longer
                        self._append(number, "unparked", None, "duplicate")
                finally:
                    self.cause = outer

    # -- packet-ready --

    def _ready(self, command: Command, rules: Rules) -> tuple[str | None, bool]:
        data = command.data
        number = int(data["revision"])
        existing = self.peek(number)
        if existing is not None and existing.created:
            assert existing.packet is not None
            if existing.packet["packet_hash"] != data["packet_hash"]:
                return "revision-conflict", False
        duplicate = existing is not None and existing.created
        if not duplicate:
            self._older_superseded(number)
            self._create(number, data, rules)
        self._stale_evidence(command.evidence)
        return None, duplicate

    def _create(self, number: int, data: Mapping[str, Any], rules: Rules) -> None:
        lane = rules.get(str(data["lane_id"]))
        view = {"packet": data, "ready_at": self.now}
        if lane is None:
            self._move(number, "created", "rejected", "unknown-lane", **view)
            return
        cited = {e["kind"] for e in data["evidence_refs"]}
        if any(kind not in cited for kind in lane.required):
            self._move(number, "created", "rejected", "evidence-incomplete", **view)
            return
        newest = self.newest_created()
        if newest is not None and number < newest:
            self._move(
                number, "created", "superseded", "out-of-order", superseded_by=newest, **view
            )
            return
        self._move(
            number, "created", "pending", "packet-ready", max_pending=lane.max_pending, **view
        )

    # -- evidence-changed --

    def _evidence(self, command: Command) -> None:
        kind, ref, version = (command.data[k] for k in ("kind", "ref", "new_version"))
        for number in sorted(self.revs):
            rev = self.revs[number]
            if not (rev.created and rev.live):
                continue
            assert rev.packet is not None
            if kind == "audience-scope" and rev.packet["lane_id"] == ref:
                assert command.as_of is not None and rev.ready_at is not None
                if rev.ready_at <= command.as_of:
                    self._supersede(number, "evidence-changed")
            elif any((k, r) == (kind, ref) and v != version for k, r, v in rev.cites()):
                self._supersede(number, "evidence-changed")

    # -- approvals, forwards and feedback: now, or held until what they name is stored --

    @staticmethod
    def named(kind: str, data: Mapping[str, Any]) -> int:
        if kind == "feedback":
            return int(str(data["manifest_id"]).rsplit("@r", 1)[1])
        return int(data["revision"])

    def _early(
        self, command: Command, rules: Rules, per_packet: int, grace: timedelta
    ) -> tuple[str | None, bool]:
        number = self.named(command.kind, command.data)
        target = self.peek(number)
        if target is None or not target.created:
            if sum(len(r.held) for r in self.revs.values()) < per_packet:
                self.parked = True
                held = Held(
                    command.event_id, command.kind, command.data, self.now + grace, command.origin
                )
                self._append(number, "parked", None, "early-event")
                self.rev(number).held.append(held)
                return None, False
            if command.kind != "forward":
                return "early-event-limit", False
        return self._decide_now(command.kind, command.data, command.origin, rules, settling=False)

    def _decide_now(
        self,
        kind: str,
        data: Mapping[str, Any],
        origin: Mapping[str, Any] | None,
        rules: Rules,
        settling: bool,
    ) -> tuple[str | None, bool]:
        if kind == "approval":
            self._approval(data, rules)
            return None, False
        if kind == "forward":
            return None, self._forward(data)
        dead, duplicate = self._feedback(data)
        if dead and settling:
            number = self.named("feedback", data)
            letters = () if origin is None else (dead_letter(origin, "unknown-manifest"),)
            self._append(number, "dead-lettered", None, "unknown-manifest", letters)
        return dead, duplicate

    def _approval(self, data: Mapping[str, Any], rules: Rules) -> None:
        number = int(data["revision"])
        refusal = self._approval_refusal(data, rules)
        if refusal is not None:
            self._refuse(number, refusal)
            return
        ids = self.rev(number).decision_ids | {data["decision_id"]}
        if data["decision"] == "reject":
            self._move(number, "rejected", "rejected", "rejected-by-owner", decision_ids=ids)
            return
        if data["decision"] == "revoke":
            note = self._lifecycle(number, "rejected", "revoked-by-owner", approvals=None)
            self._append(
                number,
                "revoked",
                "rejected",
                "revoked-by-owner",
                (note,),
                revoked=True,
                decision_ids=ids,
            )
            return
        lane = rules[str(self.rev(number).packet["lane_id"])]  # type: ignore[index]
        quorum = [*self._still_counted(number, lane), data]
        if len(quorum) < lane.quorum:
            progress = {"counted": len(quorum), "required": lane.quorum}
            note = self._lifecycle(
                number, "pending", "approval-counted", tag="counted", approvals=progress
            )
            self._append(
                number,
                "approval-counted",
                None,
                "approval-counted",
                (note,),
                approvals=quorum,
                decision_ids=ids,
            )
            return
        self._move(
            number,
            "approved",
            "approved",
            "approved",
            approval=data,
            approvals=quorum,
            approved_at=self.now,
            decision_ids=ids,
        )
        if read_time(data["valid_from"]) <= self.now:
            self._release(number, rules)

    def _approval_refusal(self, data: Mapping[str, Any], rules: Rules) -> str | None:
        number = int(data["revision"])
        rev = self.peek(number)
        if rev is None or rev.packet is None:
            return "unknown-revision"
        lane = rules.get(str(rev.packet["lane_id"]))
        owner = self._owner_refusal(lane, data)
        if owner is not None:
            return owner
        assert lane is not None
        approve = data["decision"] == "approve"
        if approve and data["approver"] == rev.packet["prepared_by"]:
            return "self-approval"
        if any(data["decision_id"] in r.decision_ids for n, r in self.revs.items() if n != number):
            return "decision-reused"
        revoke = data["decision"] == "revoke"
        if revoke and rev.state not in ("approved", "released"):
            return "not-revocable"
        if not revoke and rev.state != "pending":
            return "not-pending"
        if data["lane_id"] != rev.packet["lane_id"]:
            return "lane-mismatch"
        if any(data[k] != rev.packet[k] for k in ("packet_hash", "option_set_hash")):
            return "hash-mismatch"
        if not approve:
            return None
        scope = scope_refusal(lane, data, self.now)
        if scope is not None:
            return scope[0]
        held = self._still_counted(number, lane)
        if any(a["approver"] == data["approver"] for a in held):
            return "approver-already-counted"
        if held and not same_terms(held[0], data):
            return "terms-differ"
        return None

    def _still_counted(self, number: int, lane: LaneRules) -> list[Mapping[str, Any]]:
        """The counted approvals whose signer is still an owner of the lane with that key."""
        return [a for a in self.rev(number).approvals if self._owner_refusal(lane, a) is None]

    @staticmethod
    def _owner_refusal(lane: LaneRules | None, data: Mapping[str, Any]) -> str | None:
        key = None if lane is None else lane.owners.get(str(data["approver"]))
        if key is None:
            return "not-release-owner"
        return None if verifies(data, key) else "bad-signature"

    def _release(self, number: int, rules: Rules) -> None:
        rev = self.rev(number)
        assert rev.approval is not None and rev.packet is not None and rev.approved_at
        lane = rules.get(str(rev.packet["lane_id"]))
        problem = "unknown-lane" if lane is None else self._quorum_refusal(lane, rev)
        if problem is None:
            assert lane is not None
            scope = scope_refusal(lane, rev.approval, self.now)
            problem = None if scope is None or scope[1] == "past" else scope[0]
        if problem is not None:
            self._supersede(number, "release-check-failed")
            return
        older = sorted(n for n, r in self.revs.items() if r.created and n < number)
        assert lane is not None
        manifest = build_manifest(self.packet_id, rev, older, self.now, lane.quorum)
        out = Out(
            "release-manifest",
            self.packet_id,
            f"{self.mid(number)}:released",
            self.packet_id,
            text_time(self.now),
            manifest,
        )
        self._move(number, "released", "released", "released", (out,), manifest=manifest)

    def _quorum_refusal(self, lane: LaneRules, rev: Rev) -> str | None:
        failures = [r for r in (self._owner_refusal(lane, a) for a in rev.approvals) if r]
        if len(rev.approvals) - len(failures) >= lane.quorum:
            return None
        return failures[0] if failures else "quorum-not-met"

    def _forward(self, data: Mapping[str, Any]) -> bool:
        """Records the outcome; True when the request id was decided before."""
        request_id = str(data["request_id"])
        if any(request_id in r.request_ids for r in self.revs.values()):
            return True
        number = int(data["revision"])
        recipients = [str(r) for r in data["recipients"]]
        listed = [shown(r) for r in recipients[:MAX_RECIPIENTS]]
        reason, blocked = self._forward_block(number, data, recipients)
        if reason is None:
            blocked = []
        elif blocked is None:
            blocked = listed
        outcome = {
            "request_id": request_id,
            "packet_id": self.packet_id,
            "revision": number,
            "manifest_id": data["manifest_id"],
            "requested_by": shown(str(data["requested_by"])),
            "recipients": listed,
            "blocked_recipients": blocked,
            "reason": reason,
        }
        topic, suffix = ("blocked-forward", "blocked") if reason else ("forward-allowed", "allowed")
        at = text_time(self.now)
        out = Out(topic, self.packet_id, f"{request_id}:{suffix}", self.packet_id, at, outcome)
        kind = "forward-blocked" if reason else "forward-allowed"
        ids = self.rev(number).request_ids | {request_id}
        self._append(number, kind, None, reason or "allowed", (out,), request_ids=ids)
        self.refused = self.refused or reason is not None
        return False

    def _forward_block(
        self, number: int, data: Mapping[str, Any], recipients: Sequence[str]
    ) -> tuple[str | None, list[str] | None]:
        """(reason, blocked recipients or None for "all listed"); reason None: allowed."""
        rev = self.peek(number)
        if not any(r.created for r in self.revs.values()):
            return "unknown-packet", None
        if rev is None or not rev.created:
            return "revision-mismatch", None
        if data["manifest_id"] != self.mid(number):
            return "manifest-mismatch", None
        if rev.revoked:
            return "revoked-by-owner", None
        if rev.state in ("superseded", "expired"):
            return str(rev.state), None
        if rev.state != "released" or rev.approval is None:
            return "not-released", None
        if not recipients or len(recipients) > MAX_RECIPIENTS:
            return "outside-audience", None if recipients else []
        outside = [shown(r) for r in recipients if r not in rev.approval["audience"]]
        return ("outside-audience", outside) if outside else (None, [])

    def _feedback(self, data: Mapping[str, Any]) -> tuple[str | None, bool]:
        packet_id, _, number = str(data["manifest_id"]).rpartition("@r")
        rev = self.peek(int(number))
        if packet_id != self.packet_id or rev is None or rev.manifest is None:
            return "unknown-manifest", False
        if data["feedback_id"] in rev.feedback_ids:
            return None, True
        ids = rev.feedback_ids | {data["feedback_id"]}
        self._append(int(number), "feedback", None, str(data["correction"]), feedback_ids=ids)
        return None, False


def scope_refusal(
    lane: LaneRules, data: Mapping[str, Any], now: datetime
) -> tuple[str, str] | None:
    """(reason, which check) for the audience and the window of an approval."""
    audience = list(data.get("audience") or [])
    if not audience or any(a not in lane.recipients for a in audience):
        return "audience-out-of-scope", "audience"
    start, end = read_time(data["valid_from"]), read_time(data["valid_until"])
    if start >= end:
        return "bad-window", "inverted"
    if end - start > lane.max_validity:
        return "bad-window", "too-long"
    if end <= now:
        return "bad-window", "past"
    return None


def same_terms(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def term(d: Mapping[str, Any], name: str) -> Any:
        if name == "audience":
            return sorted(d["audience"])
        if name.startswith("valid_"):
            return read_time(d[name])
        return d[name]

    return all(term(a, t) == term(b, t) for t in TERMS)


def build_manifest(
    packet_id: str, rev: Rev, older: list[int], now: datetime, quorum: int
) -> dict[str, Any]:
    packet, approval = rev.packet, rev.approval
    assert packet is not None and approval is not None and rev.approved_at is not None
    data: dict[str, Any] = {
        "manifest_id": f"{packet_id}@r{rev.number}",
        "packet_id": packet_id,
        "revision": rev.number,
        "packet_hash": packet["packet_hash"],
        "option_set_hash": packet["option_set_hash"],
        "lane_id": packet["lane_id"],
        "audience": list(approval["audience"]),
        "approver": approval["approver"],
        "decision_id": approval["decision_id"],
        "approved_at": text_time(rev.approved_at),
        "released_at": text_time(now),
        "valid_from": approval["valid_from"],
        "valid_until": approval["valid_until"],
        "options": packet["options"],
        "blocked_requests": packet["blocked_requests"],
        "evidence_refs": packet["evidence_refs"],
        "supersedes": older,
        "approvals_required": quorum,
        "approvals": [
            {
                "decision_id": a["decision_id"],
                "approver": a["approver"],
                "signed_at": a.get("signed_at"),
                "meaning": "approve",
                "signature": a["signature"],
            }
            for a in rev.approvals
        ],
    }
    data["manifest_hash"] = digest(data)
    return data


def dead_letter(origin: Mapping[str, Any], kind: str) -> Out:
    topic, partition, offset = origin["topic"], origin["partition"], origin["offset"]
    data = {
        "source_topic": topic,
        "partition": partition,
        "offset": offset,
        "key": origin["key"],
        "raw_value": origin["raw_value"],
        "error_kind": kind,
        "received_at": origin["received_at"],
    }
    return Out(
        "dead-letter",
        origin["key"] or "",
        f"dead-letter:{topic}:{partition}:{offset}",
        f"{topic}/{partition}/{offset}",
        origin["received_at"],
        data,
    )
