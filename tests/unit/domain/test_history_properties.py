"""Random histories of several packets, every step predicted by an independent reference model.

A history interleaves packet-readies (fresh, stale, conflicting, of an unknown lane, missing
evidence), approvals (genuine, forged, of a stranger, self-approvals, reused, bad windows,
early ones that overtake their packet), forwards, feedback, evidence and audience-scope
changes, governance changes, time steps with and without the scheduler, and redeliveries.
For every decide() call the model (tests/unit/domain/reference.py, which imports nothing from
service/) says which facts must be appended, with which outputs, and the test compares them
exactly, with the outcome, the state of every revision, the events still held and the fact
chain (checked by the model's own hash code).

A request id or feedback id is sent again under a new event id, also while both are held
for a revision not stored yet: the second is decided as a duplicate and leaves the held list
with an `unparked` fact (it once stayed held for ever and its grace timed the revision out).

From service/ this file takes only decide() and what calling it needs: the command types, the
governance types it is given, and the fold that turns its facts back into its input.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.domain.commands import (
    ApprovalDecided,
    Command,
    EvidenceChanged,
    EvidenceVersion,
    FeedbackReceived,
    ForwardRequested,
    Origin,
    PacketReady,
    Parking,
    Tick,
)
from service.domain.decide import Decision, decide
from service.domain.governance import Governance, Lane, ReleaseOwner
from service.domain.revision import Revision, with_facts
from tests.unit.domain import reference as ref
from tests.unit.domain.reference import Expected, LaneRules, Out, PacketModel, digest, text_time

VECTORS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "contract"
VECTORS = json.loads((VECTORS_DIR / "vectors.json").read_text(encoding="utf-8"))

# Identities and their test keys (the owner's is the contract's published test vector).
OWNER = "user:dana.ortiz@support"
OWNER_SEED = base64.b64decode(VECTORS["owner_private_key_seed_b64_TEST_ONLY"])
SECOND = "user:sam.reyes@support"
SECOND_SEED = bytes(range(32))
PREPARER = "user:lee.park@support"  # an owner of lane A too: only self-approval stops them
PREPARER_SEED = bytes(range(2, 34))
STRANGER = "user:mallory@elsewhere"
STRANGER_SEED = bytes(range(1, 33))
SEEDS = {OWNER: OWNER_SEED, SECOND: SECOND_SEED, PREPARER: PREPARER_SEED, STRANGER: STRANGER_SEED}

LANE_A, LANE_B, NO_LANE = "exec-customer-review", "exec-fast-review", "no-such-lane"
LANE_C = "exec-board-review"  # two of its owners must approve (a quorum)
CRO, GC, VP = "exec:cro", "exec:general-counsel", "exec:vp-support"
BASE = {"incident-impact": "7", "contract": "3"}
# packet -> (lane, the incident it cites); every packet cites the contract MSA-1 too.
PACKETS = {
    "RP-1": (LANE_A, "INC-1"),
    "RP-2": (LANE_A, "INC-2"),
    "RP-3": (LANE_B, "INC-1"),
    "RP-4": (LANE_C, "INC-2"),
}
GRACE = timedelta(minutes=5)
T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def owners(*names: str) -> dict[str, bytes]:
    return {name: ref.public_key(SEEDS[name]) for name in names}


def lane_a(recipients: tuple[str, ...], *names: str) -> LaneRules:
    required = ("incident-impact", "contract")
    return LaneRules(
        LANE_A, recipients, timedelta(days=7), timedelta(days=2), required, owners(*names)
    )


LANE_B_RULES = LaneRules(
    LANE_B, (CRO,), timedelta(days=3), timedelta(hours=1), ("incident-impact",), owners(OWNER)
)


def lane_c(*names: str) -> LaneRules:
    required = ("incident-impact", "contract")
    return LaneRules(
        LANE_C, (CRO, GC), timedelta(days=7), timedelta(days=2), required, owners(*names), 2
    )


# The governance in force, switched by a "gov" step: the second one drops the second owner and
# the vice president from lane A, stops governing lane B at all, and in lane C replaces the
# second owner by the preparer (who may not approve their own packets): approvals the second
# owner gave no longer count towards lane C's quorum.
RULES: tuple[ref.Rules, ...] = (
    {
        LANE_A: lane_a((CRO, GC, VP), OWNER, SECOND, PREPARER),
        LANE_B: LANE_B_RULES,
        LANE_C: lane_c(OWNER, SECOND),
    },
    {LANE_A: lane_a((CRO, GC), OWNER, PREPARER), LANE_C: lane_c(OWNER, PREPARER)},
)


def as_governance(rules: ref.Rules) -> Governance:
    lanes = {
        lane_id: Lane(
            lane_id=lane_id,
            name=lane_id,
            authorized_recipients=lane.recipients,
            max_validity=lane.max_validity,
            max_pending=lane.max_pending,
            required_evidence=lane.required,
            release_owners=tuple(ReleaseOwner(i, k) for i, k in lane.owners.items()),
            approvals_required=lane.quorum,
        )
        for lane_id, lane in rules.items()
    }
    return Governance(lanes=MappingProxyType(lanes))


GOVERNANCE = tuple(as_governance(rules) for rules in RULES)

# --- inputs, built with the model's own hashes and signatures ------------------------------

OPTIONS = (
    {
        "option_id": "capped-credit",
        "summary": "capped",
        "credit_cap": {"amount": "250000.00", "currency": "USD"},
    },
    {"option_id": "escalate", "summary": "escalate", "credit_cap": None},
)
BLOCKED = ({"term_id": "contract-rewrite", "description": "rewrite", "reason": "legal"},)


@functools.cache
def packet_content(pid: str, revision: int, variant: str, inc: str, msa: str) -> dict[str, Any]:
    """A packet-ready payload; hashing is the slow part, and nothing mutates these."""
    lane, incident = PACKETS[pid]
    refs = [
        {"kind": "incident-impact", "ref": incident, "version": inc},
        {"kind": "contract", "ref": "MSA-1", "version": msa},
    ]
    options = [dict(o) for o in OPTIONS]
    data: dict[str, Any] = {
        "packet_id": pid,
        "revision": revision,
        "lane_id": NO_LANE if variant == "nolane" else lane,
        "prepared_by": PREPARER,
        "title": f"Recovery package r{revision} — {variant}",
        "options": options,
        "blocked_requests": [dict(b) for b in BLOCKED],
        "evidence_refs": refs[1:] if variant == "incomplete" else refs,
        "body": {"draft": revision, "variant": "conflict" if variant == "conflict" else "plain"},
    }
    data["option_set_hash"] = digest(options)
    data["packet_hash"] = digest(ref.without(data, "packet_hash"))
    return data


def approval(
    target: Mapping[str, Any],
    variant: str,
    now: datetime,
    decision_id: str,
    first: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`first`: the approval counted first on the target, which `cosign` (another owner) and
    `twice` (the same owner again) repeat the terms of."""
    lane = str(target["lane_id"])
    audience = [CRO] if lane == LANE_B else [CRO, GC]
    start, end = now - timedelta(minutes=1), now + timedelta(days=2)
    approver, seed = OWNER, OWNER_SEED
    change: dict[str, Any] = {}
    if variant in ("cosign", "twice", "differ") and first is not None:
        audience = list(reversed(first["audience"]))  # the same set, listed the other way
        if variant == "differ":
            audience = audience[:1] if len(audience) > 1 else [CRO, GC]
        start, end = ref.read_time(first["valid_from"]), ref.read_time(first["valid_until"])
        same = variant == "twice"
        variant = "cosign"
        approver = first["approver"] if same else (SECOND if first["approver"] == OWNER else OWNER)
        seed = SEEDS[approver]
    elif variant == "cosign":
        approver, seed = SECOND, SECOND_SEED
    if variant == "other":
        approver, seed = SECOND, SECOND_SEED
    elif variant == "wrong-key":
        seed = SECOND_SEED
    elif variant in ("stranger", "self"):
        approver = STRANGER if variant == "stranger" else PREPARER
        seed = SEEDS[approver]
    elif variant == "hash":
        change = {"packet_hash": "sha256:" + "0" * 64}
    elif variant == "lane":
        change = {"lane_id": LANE_B if lane == LANE_A else LANE_A}
    elif variant in ("outside", "vp", "empty"):
        audience = {"outside": [CRO, "user:x@partner"], "vp": [VP], "empty": []}[variant]
    elif variant == "inverted":
        start, end = end, start
    elif variant == "too-long":
        end = start + timedelta(days=8)
    elif variant == "past":
        start, end = now - timedelta(days=2), now - timedelta(days=1)
    elif variant == "future":
        start, end = now + timedelta(hours=1), now + timedelta(days=1)
    elif variant == "brief":
        end = now + timedelta(minutes=10)
    data: dict[str, Any] = {
        "decision_id": decision_id,
        "packet_id": target["packet_id"],
        "revision": target["revision"],
        "decision": {"reject": "reject", "revoke": "revoke"}.get(variant, "approve"),
        "approver": approver,
        "lane_id": lane,
        "packet_hash": target["packet_hash"],
        "option_set_hash": target["option_set_hash"],
    }
    if variant in ("cosign", "twice", "differ", "revoke"):  # version 2 signs its signing time
        data["signed_at"] = text_time(now)
    if variant in ("reject", "revoke"):
        data["reason"] = "not bounded enough"
    else:
        data.update(audience=audience, valid_from=text_time(start), valid_until=text_time(end))
    data.update(change)
    data["signature"] = ref.sign(data, seed)
    if variant == "forged":
        data["audience"] = [CRO, VP]  # changed after signing
    return data


# --- the abstract steps hypothesis draws ------------------------------------------------------

PACKET = st.sampled_from(["RP-1", "RP-1", "RP-2", "RP-3", "RP-4", "RP-4"])
TARGET = st.sampled_from([0] * 8 + [1, 2, 3])  # 0: the packet's newest revision sent so far
APPROVALS = ["good"] * 6 + [
    "other",
    "forged",
    "wrong-key",
    "stranger",
    "self",
    "hash",
    "lane",
    "outside",
    "vp",
    "empty",
    "inverted",
    "too-long",
    "past",
    "reject",
    "future",
    "future",
    "brief",
    "brief",
    "reuse",
    "cosign",
    "cosign",
    "cosign",
    "twice",
    "revoke",
    "revoke",
]
CANDIDATES = [CRO, CRO, CRO, GC, GC, VP, "user:x@partner", "EXEC:CRO", "exec:cro\x07"]
RECIPIENTS = st.one_of(
    st.lists(st.sampled_from(CANDIDATES), min_size=1, max_size=3),
    st.just([]),
    st.just([CRO] * 51),
)
READIES = ["fresh"] * 8 + ["stale", "conflict", "nolane", "incomplete"]

ready = st.tuples(
    st.just("ready"), PACKET, st.sampled_from([0, 0, 0, 1, 2, 3, 4]), st.sampled_from(READIES)
)
approve = st.tuples(st.just("approve"), PACKET, TARGET, st.sampled_from(APPROVALS))
forward = st.tuples(
    st.just("forward"),
    PACKET,
    TARGET,
    RECIPIENTS,
    st.sampled_from(["new", "new", "new", "repeat", "wrong-manifest"]),
)
feedback = st.tuples(st.just("feedback"), PACKET, TARGET, st.booleans())
evidence = st.tuples(
    st.just("evidence"),
    st.sampled_from(["INC-1", "INC-2", "MSA-1", LANE_A, LANE_B, LANE_C]),
    st.sampled_from(["7", "8", "9"]),
)
clock = st.tuples(
    st.just("clock"),
    st.sampled_from([1, 30, 299, 300, 3600, 86400, 3 * 86400]),
    st.booleans(),  # the scheduler ticks every packet, or time just passes
)
again = st.tuples(st.just("again"), st.integers(0, 1000))
gov = st.tuples(st.just("gov"))
# A revision's whole story: its packet-ready, an approval and a forward, in one of three
# orders (the approval, or both, overtaking the packet).
story = st.tuples(
    st.just("story"),
    PACKET,
    st.sampled_from(APPROVALS),
    st.one_of(st.sampled_from([[CRO], [GC], [CRO, GC]]), RECIPIENTS),
    st.sampled_from(["ready-first", "approval-first", "ready-last"]),
)
# Two owners' approvals of one revision, the second on the terms of the first (or, for
# "twice", by the same owner), so that quorums complete often.
pair = st.tuples(
    st.just("pair"),
    PACKET,
    TARGET,
    st.sampled_from(["cosign", "cosign", "twice", "differ", "cosign+revoke"]),
)
# Weighted by repetition: most histories store revisions, approve, release and forward.
step = st.one_of(
    pair,
    pair,
    story,
    story,
    story,
    ready,
    ready,
    approve,
    approve,
    approve,
    forward,
    forward,
    feedback,
    evidence,
    clock,
    clock,
    again,
    gov,
)
histories = st.tuples(
    st.lists(step, min_size=15, max_size=60),
    st.sampled_from([100, 2]),  # early events a packet may hold (2: the cap is reached)
)


# --- the driver ------------------------------------------------------------------------------

Decide = Callable[..., Decision]


def observed(fact: Any) -> Expected:
    """A fact decide() appended, in the model's terms (free-text details left out)."""

    def out(o: Any) -> Out:
        data = {k: v for k, v in o.data.items() if k not in ("detail", "error_detail")}
        return Out(o.topic, o.key, o.id, o.subject, o.at, data)

    outbox = tuple(out(o) for o in fact.outbox)
    return Expected(
        fact.revision,
        fact.kind,
        fact.from_state,
        fact.to_state,
        fact.reason,
        fact.cause_event_id,
        fact.at,
        outbox,
    )


def chain_content(fact: Any) -> dict[str, Any]:
    """What docs/decisions/0003 says the chain covers: the fact but its own hash."""
    return {
        "id": f"{fact.packet_id}@r{fact.revision}/{fact.seq}",
        "packet_id": fact.packet_id,
        "revision": fact.revision,
        "seq": fact.seq,
        "kind": fact.kind,
        "from_state": fact.from_state,
        "to_state": fact.to_state,
        "reason": fact.reason,
        "at": fact.at,
        "cause_event_id": fact.cause_event_id,
        "data": dict(fact.data),
        "outbox": [
            {
                "topic": o.topic,
                "key": o.key,
                "id": o.id,
                "subject": o.subject,
                "at": o.at,
                "data": dict(o.data),
            }
            for o in fact.outbox
        ],
        "prev_hash": fact.prev_hash,
    }


@dataclass
class Sent:
    """One input as sent: to which packet, for decide() and for the model."""

    packet_id: str
    command: Command
    modelled: ref.Command


@dataclass
class History:
    decider: Decide
    per_packet: int
    now: datetime = T0
    rules: int = 0
    announced: dict[tuple[str, str], str] = field(default_factory=dict)
    models: dict[str, PacketModel] = field(default_factory=dict)
    packets: dict[str, dict[int, Revision]] = field(default_factory=dict)
    heads: dict[tuple[str, int], tuple[int, str | None]] = field(default_factory=dict)
    states: dict[tuple[str, int], str | None] = field(default_factory=dict)
    held: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    decisions: dict[str, list[str]] = field(default_factory=dict)  # packet -> decision ids
    requests: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    feedback: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    expected: list[tuple[str, Expected]] = field(default_factory=list)  # every fact, in order
    n: int = 0

    def __post_init__(self) -> None:
        for pid in PACKETS:
            self.models[pid] = PacketModel(pid)
            self.packets[pid] = {}

    # -- building inputs from abstract steps --

    def newest_sent(self, pid: str) -> int:
        numbers = [
            s.command.data["revision"]
            for s in self.sent
            if s.packet_id == pid and isinstance(s.command, PacketReady)
        ]
        return max(numbers, default=0)

    def target(self, pid: str, choice: int) -> int:
        return choice or max(1, self.newest_sent(pid))

    def fresh(self, pid: str, revision: int, variant: str = "fresh") -> dict[str, Any]:
        incident = PACKETS[pid][1]
        if variant == "stale":
            return packet_content(pid, revision, variant, BASE["incident-impact"], BASE["contract"])
        inc = self.announced.get(("incident-impact", incident), BASE["incident-impact"])
        msa = self.announced.get(("contract", "MSA-1"), BASE["contract"])
        return packet_content(pid, revision, variant, inc, msa)

    def stored_or_fresh(self, pid: str, revision: int) -> Mapping[str, Any]:
        rev = self.models[pid].peek(revision)
        return (
            rev.packet if rev is not None and rev.packet is not None else self.fresh(pid, revision)
        )

    def cited(self, data: Mapping[str, Any]) -> dict[tuple[str, str], str]:
        keys = [(e["kind"], e["ref"]) for e in data["evidence_refs"]]
        return {k: self.announced[k] for k in keys if k in self.announced}

    def inputs(self, s: tuple[Any, ...]) -> Iterator[Sent]:
        self.n += 1
        n, kind = self.n, s[0]
        if kind == "ready":
            _, pid, choice, variant = s
            number = choice or self.newest_sent(pid) + 1
            data = self.fresh(pid, number, variant)
            cited = self.cited(data)
            evidence = {k: EvidenceVersion(v, "ev") for k, v in cited.items()}
            yield Sent(
                pid,
                PacketReady(f"ready-{n}", data, evidence),
                ref.Command("ready", f"ready-{n}", data, cited),
            )
        elif kind == "approve":
            _, pid, choice, variant = s
            target = self.stored_or_fresh(pid, self.target(pid, choice))
            yield self._approval(n, pid, target, variant)
        elif kind == "story":
            _, pid, variant, recipients, order = s
            number = self.newest_sent(pid) + 1
            data = self.fresh(pid, number)
            cited = self.cited(data)
            evidence = {k: EvidenceVersion(v, "ev") for k, v in cited.items()}
            stored = Sent(
                pid,
                PacketReady(f"ready-{n}", data, evidence),
                ref.Command("ready", f"ready-{n}", data, cited),
            )
            decided = self._approval(n, pid, data, variant)
            asked = self._forward(n, pid, number, recipients, "new")
            yield from {
                "ready-first": (stored, decided, asked),
                "approval-first": (decided, stored, asked),
                "ready-last": (decided, asked, stored),
            }[order]
        elif kind == "pair":
            _, pid, choice, variant = s
            target = self.stored_or_fresh(pid, self.target(pid, choice))
            first = self._approval(n, pid, target, "good")
            yield first
            second, revoke = variant.partition("+")[::2]
            self.n += 1
            yield self._approval(self.n, pid, target, second, first.command.data)
            if revoke:
                self.n += 1
                yield self._approval(self.n, pid, target, revoke)
        elif kind == "forward":
            yield self._forward(n, *s[1:])
        elif kind == "feedback":
            yield self._feedback(n, *s[1:])
        elif kind == "evidence":
            yield from self._evidence(n, s[1], s[2])
        elif kind == "clock":
            self.now += timedelta(seconds=s[1])
            if s[2]:
                for pid in PACKETS:
                    yield Sent(pid, Tick(), ref.Command("tick", "scheduler"))
        elif kind == "again":
            earlier = [x for x in self.sent if not isinstance(x.command, (Tick, EvidenceChanged))]
            if earlier:
                yield self._again(earlier[s[1] % len(earlier)])
        else:
            assert kind == "gov", s
            self.rules = 1 - self.rules

    def _approval(
        self,
        n: int,
        pid: str,
        target: Mapping[str, Any],
        variant: str,
        first: Mapping[str, Any] | None = None,
    ) -> Sent:
        used = self.decisions.setdefault(pid, [])
        decision_id = used[-1] if variant == "reuse" and used else f"AD-{n}"
        counted = self.models[pid].peek(int(target["revision"]))
        if first is None and counted is not None and counted.approvals:
            first = counted.approvals[0]
        chosen = "good" if variant == "reuse" else variant
        data = approval(target, chosen, self.now, decision_id, first)
        used.append(decision_id)
        return Sent(pid, ApprovalDecided(f"ap-{n}", data), ref.Command("approval", f"ap-{n}", data))

    def _forward(self, n: int, pid: str, choice: int, recipients: list[str], how: str) -> Sent:
        number = self.target(pid, choice)
        request_id = f"FR-{n}"
        earlier = self.requests.setdefault(pid, [])
        # A request id sent again is decided once, also when both are held for a revision
        # not stored yet (the second is then `unparked` as a duplicate).
        if how == "repeat" and earlier:
            request_id, number = earlier[-1]
        earlier.append((request_id, number))
        mid = f"{pid}@r{number + 1 if how == 'wrong-manifest' else number}"
        data = {
            "request_id": request_id,
            "packet_id": pid,
            "revision": number,
            "manifest_id": mid,
            "requested_by": CRO,
            "recipients": recipients,
            "channel": "email",
        }
        return Sent(pid, ForwardRequested(f"fr-{n}", data), ref.Command("forward", f"fr-{n}", data))

    def _feedback(self, n: int, pid: str, choice: int, repeat: bool) -> Sent:
        number = self.target(pid, choice)
        feedback_id = f"RF-{n}"
        earlier = self.feedback.setdefault(pid, [])
        if repeat and earlier:
            feedback_id, number = earlier[-1]
        earlier.append((feedback_id, number))
        data = {
            "feedback_id": feedback_id,
            "manifest_id": f"{pid}@r{number}",
            "reviewer": CRO,
            "correction": "missing-blocked-terms",
            "note": "seen in review",
        }
        raw = base64.b64encode(json.dumps(data).encode()).decode()
        origin = Origin("review-feedback", 0, n, pid, text_time(self.now), raw)
        modelled = ref.Command("feedback", f"rf-{n}", data, origin=origin.to_json())
        return Sent(pid, FeedbackReceived(f"rf-{n}", data, origin), modelled)

    def _evidence(self, n: int, what: str, version: str) -> Iterator[Sent]:
        if what in (LANE_A, LANE_B, LANE_C):
            kind, item = "audience-scope", what
        else:
            kind, item = ("contract", what) if what == "MSA-1" else ("incident-impact", what)
            self.announced[(kind, item)] = version
        lane = item if kind == "audience-scope" else None
        data = {"kind": kind, "ref": item, "new_version": version, "summary": "s", "lane_id": lane}
        for pid in PACKETS:  # the gate's fan-out, here to every packet
            yield Sent(
                pid,
                EvidenceChanged(f"ev-{n}", data, as_of=self.now),
                ref.Command("evidence", f"ev-{n}", data, as_of=self.now),
            )

    def _again(self, first: Sent) -> Sent:
        command, modelled = first.command, first.modelled
        if isinstance(command, PacketReady):  # the gate looks the evidence up again
            cited = self.cited(command.data)
            evidence = {k: EvidenceVersion(v, "ev") for k, v in cited.items()}
            command = PacketReady(command.event_id, command.data, evidence)
            modelled = ref.Command("ready", modelled.event_id, modelled.data, cited)
        return Sent(first.packet_id, command, modelled)

    # -- deciding and comparing --

    def play(self, steps: list[tuple[Any, ...]]) -> None:
        for number, s in enumerate([("ready", "RP-1", 1, "fresh"), *steps]):
            for item in list(self.inputs(s)):
                self.sent.append(item)
                self.decide(number, s, item)

    def decide(self, number: int, s: tuple[Any, ...], item: Sent) -> None:
        pid = item.packet_id
        evidence = {k: EvidenceVersion(v, "ev") for k, v in self.announced.items()}
        parking = Parking(grace=GRACE, per_packet=self.per_packet)
        actual = self.decider(
            pid,
            self.packets[pid],
            item.command,
            self.now,
            GOVERNANCE[self.rules],
            evidence,
            parking,
        )
        expected = self.models[pid].decide(
            item.modelled, self.now, RULES[self.rules], self.announced, self.per_packet, GRACE
        )
        where = f"step {number} {s!r} to {pid} at {text_time(self.now)}"
        got = [observed(f) for f in actual.facts]
        assert got == list(expected.facts), f"{where}: facts\n got {got}\nwant {expected.facts}"
        dead = actual.dead_letter[0] if actual.dead_letter else None
        assert (actual.outcome, dead) == (expected.outcome, expected.dead_letter), where
        self.check_chain(pid, actual.facts, where)
        self.check_quorum(actual.facts, where)
        self.packets[pid] = with_facts(self.packets[pid], pid, actual.facts)
        model = self.models[pid]
        mine = {(pid, n): st_ for n, st_ in model.states().items()}
        theirs = {k: v for k, v in self.states.items() if k[0] == pid and v is not None}
        assert theirs == mine, f"{where}: states {theirs} != {mine}"
        held = sorted(e for k, ids in self.held.items() if k[0] == pid for e in ids)
        assert held == sorted(model.held_ids()), f"{where}: held {held}"
        self.expected += [(pid, f) for f in expected.facts]

    def check_quorum(self, facts: Any, where: str) -> None:
        """No manifest leaves with fewer than k distinct owners' valid approvals on its terms."""
        for o in (o for f in facts for o in f.outbox if o.topic == "release-manifest"):
            lane = RULES[self.rules][o.data["lane_id"]]
            signers = {a["approver"] for a in o.data["approvals"]}
            assert len(signers) >= lane.quorum, f"{where}: released with {signers}"
            assert signers <= set(lane.owners), f"{where}: {signers} not all owners"

    def check_chain(self, pid: str, facts: Any, where: str) -> None:
        """Every fact on its revision's next seq, linked to the one before, hash recomputed."""
        for fact in facts:
            key = (pid, fact.revision)
            seq, head = self.heads.get(key, (0, None))
            assert (fact.seq, fact.prev_hash) == (seq + 1, head), f"{where}: broken link"
            assert fact.hash == ref.chain_hash(chain_content(fact)), f"{where}: hash"
            self.heads[key] = (fact.seq, fact.hash)
            self.states[key] = fact.to_state
            held = self.held.setdefault(key, set())
            if fact.kind == "parked":
                held.add(fact.cause_event_id)
            else:
                held.discard(fact.cause_event_id)


def run_history(steps: list[tuple[Any, ...]], per_packet: int, decider: Decide = decide) -> History:
    history = History(decider, per_packet)
    history.play(steps)
    return history


@settings(max_examples=max(500, settings.default.max_examples))
@given(histories)
def test_every_step_of_a_random_history_is_what_the_reference_model_predicts(
    history: tuple[list[tuple[Any, ...]], int],
) -> None:
    run_history(*history)


# --- the property has teeth ----------------------------------------------------------------


def emits_nothing(*_: Any, **__: Any) -> Decision:
    return Decision()


def refuses_every_approval(packet_id: str, packet: Any, command: Command, *rest: Any) -> Decision:
    """The real decide(), but every approval arrives with a signature that cannot verify."""
    if isinstance(command, ApprovalDecided):
        data = {**command.data, "signature": "AAAA"}
        command = ApprovalDecided(command.event_id, data, command.origin)
    return decide(packet_id, packet, command, *rest)


def property_with(decider: Decide) -> None:
    @settings(max_examples=300, database=None, phases=[Phase.generate], deadline=None)
    @given(histories)
    def prop(history: tuple[list[tuple[Any, ...]], int]) -> None:
        run_history(*history, decider=decider)

    prop()


@pytest.mark.parametrize("stand_in", [emits_nothing, refuses_every_approval])
def test_the_property_fails_against_a_decide_that_emits_nothing_or_refuses_every_approval(
    stand_in: Decide,
) -> None:
    with pytest.raises(AssertionError, match=r"^step \d+ .*: facts"):
        property_with(stand_in)


# --- the model itself -------------------------------------------------------------------------


def test_the_models_hashes_and_signature_are_the_contracts_vectors() -> None:
    ready = json.loads((VECTORS_DIR / "packet-ready.json").read_text(encoding="utf-8"))["data"]
    decision = json.loads((VECTORS_DIR / "approval-decision.json").read_text(encoding="utf-8"))
    manifest = json.loads((VECTORS_DIR / "release-manifest.data.json").read_text(encoding="utf-8"))
    signed = decision["data"]
    assert ref.canonical(ready["options"]).decode() == VECTORS["canonical_option_set"]
    assert digest(ready["options"]) == VECTORS["option_set_hash"] == ready["option_set_hash"]
    assert digest(ref.without(ready, "packet_hash")) == VECTORS["packet_hash"]
    signing_input = ref.canonical(ref.without(signed, "signature")).decode()
    assert signing_input == VECTORS["approval_signing_input"]
    assert ref.sign(signed, OWNER_SEED) == VECTORS["approval_signature"] == signed["signature"]
    owner_key = base64.b64decode(VECTORS["owner_public_key_b64"])
    assert ref.verifies(signed, owner_key)
    assert not ref.verifies({**signed, "revision": 4}, owner_key)
    assert digest(ref.without(manifest["data"], "manifest_hash")) == VECTORS["manifest_hash"]


WRITTEN = [
    ("approve", "RP-1", 2, "good"),  # early: held for r2
    ("forward", "RP-1", 2, [CRO], "new"),  # early too, after the approval
    ("ready", "RP-1", 2, "fresh"),  # r1 superseded, r2 stored, approved, released, forwarded
    ("ready", "RP-3", 1, "fresh"),
    ("approve", "RP-3", 1, "future"),  # approved, released in an hour
    ("gov",),  # lane B is no longer governed
    ("clock", 3600, True),  # due: the re-check fails
    ("approve", "RP-2", 1, "good"),  # early, never stored: refused after the grace
    ("clock", 300, True),
]


def test_a_written_history_is_predicted_release_forward_recheck_and_grace_included() -> None:
    history = run_history(WRITTEN, per_packet=100)
    moves = [(pid, f.revision, f.kind, f.reason, f.cause) for pid, f in history.expected]
    assert moves == [
        ("RP-1", 1, "created", "packet-ready", "ready-1"),
        ("RP-1", 2, "parked", "early-event", "ap-2"),
        ("RP-1", 2, "parked", "early-event", "fr-3"),
        ("RP-1", 1, "superseded", "newer-revision", "ready-4"),
        ("RP-1", 2, "created", "packet-ready", "ready-4"),
        ("RP-1", 2, "approved", "approved", "ap-2"),
        ("RP-1", 2, "released", "released", "ap-2"),
        ("RP-1", 2, "forward-allowed", "allowed", "fr-3"),
        ("RP-3", 1, "created", "packet-ready", "ready-5"),
        ("RP-3", 1, "approved", "approved", "ap-6"),
        ("RP-3", 1, "superseded", "release-check-failed", "scheduler"),
        ("RP-2", 1, "parked", "early-event", "ap-9"),
        ("RP-2", 1, "refused", "unknown-revision", "ap-9"),
    ]
    [manifest] = [
        o.data for _, f in history.expected for o in f.outbox if o.topic == "release-manifest"
    ]
    assert (manifest["manifest_id"], manifest["supersedes"], manifest["audience"]) == (
        "RP-1@r2",
        [1],
        [CRO, GC],
    )
    assert {pid: m.states() for pid, m in history.models.items()} == {
        "RP-1": {1: "superseded", 2: "released"},
        "RP-2": {},
        "RP-3": {1: "superseded"},
        "RP-4": {},
    }


QUORUM = [
    ("ready", "RP-4", 1, "fresh"),
    ("approve", "RP-4", 1, "good"),  # 1 of 2
    ("approve", "RP-4", 1, "twice"),  # the same owner again: counts once
    ("clock", 30, False),
    ("approve", "RP-4", 1, "other"),  # another owner, but a window 30 s later
    ("approve", "RP-4", 1, "cosign"),  # another owner on identical terms: approved, released
    ("forward", "RP-4", 1, [CRO], "new"),
    ("approve", "RP-4", 1, "revoke"),
    ("forward", "RP-4", 1, [CRO], "new"),
    ("ready", "RP-4", 2, "fresh"),
    ("approve", "RP-4", 2, "cosign"),  # the second owner first: 1 of 2
    ("gov",),  # the second owner leaves lane C
    ("approve", "RP-4", 2, "cosign"),  # the first owner: still 1 of 2
]


def test_a_quorum_history_counts_refuses_releases_revokes_and_forgets_a_departed_owner() -> None:
    history = run_history(QUORUM, per_packet=100)
    moves = [(f.revision, f.kind, f.reason) for pid, f in history.expected if pid == "RP-4"]
    assert moves == [
        (1, "created", "packet-ready"),
        (1, "approval-counted", "approval-counted"),
        (1, "refused", "approver-already-counted"),
        (1, "refused", "terms-differ"),
        (1, "approved", "approved"),
        (1, "released", "released"),
        (1, "forward-allowed", "allowed"),
        (1, "revoked", "revoked-by-owner"),
        (1, "forward-blocked", "revoked-by-owner"),
        (2, "created", "packet-ready"),
        (2, "approval-counted", "approval-counted"),
        (2, "approval-counted", "approval-counted"),
    ]
    outs = [o.data for pid, f in history.expected for o in f.outbox if pid == "RP-4"]
    [manifest] = [o for o in outs if "manifest_id" in o and "approvals_required" in o]
    assert [a["approver"] for a in manifest["approvals"]] == [OWNER, SECOND]
    progress = [o["approvals"] for o in outs if o.get("reason") == "approval-counted"]
    assert progress == [{"counted": 1, "required": 2}] * 3
    assert history.models["RP-4"].states() == {1: "rejected", 2: "pending"}
