"""Random histories against the invariants, checked by a small independent reference model."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.domain.commands import (
    ApprovalDecided,
    Command,
    EvidenceChanged,
    EvidenceVersion,
    ForwardRequested,
    PacketReady,
    Tick,
)
from service.domain.facts import group_by_revision, verify_chain
from service.domain.governance import Governance
from tests.support import builders
from tests.support.builders import (
    LANE,
    OWNER,
    OWNER_SEED,
    PREPARER,
    RECIPIENTS,
    SECOND_OWNER,
    SECOND_SEED,
    STRANGER_SEED,
    evidence_changed,
)
from tests.unit.domain.builders import T0, Log, approval_data, governance, packet_data

PREPARER_SEED = bytes(range(2, 34))
VARIANTS = [
    "good",
    "good-other",
    "forged",
    "wrong-key",
    "stranger",
    "self",
    "hash",
    "audience",
    "inverted",
    "too-long",
    "past",
    "reject",
    "future",
]
# Whom a forward may name: two of the audience, one more of the lane, two outside the lane.
CANDIDATES = ["exec:cro", "exec:general-counsel", "exec:vp-support", "user:x@partner", "EXEC:CRO"]

TARGET = st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4])  # 0: the newest revision sent so far
ready = st.tuples(st.just("ready"), st.integers(1, 4), st.sampled_from([False] * 6 + [True]))
approve = st.tuples(st.just("approve"), TARGET, st.sampled_from(VARIANTS))
forward = st.tuples(
    st.just("forward"),
    TARGET,
    st.lists(st.sampled_from(CANDIDATES[:2] * 3 + CANDIDATES), min_size=1, max_size=3),
)
clock = st.tuples(
    st.just("clock"), st.sampled_from([1, 30, 600, 3600, 86400, 3 * 86400]), st.booleans()
)
evidence = st.tuples(
    st.just("evidence"),
    st.sampled_from(["INC-1", "MSA-1", "scope"]),
    st.sampled_from(["7", "8", "9"]),
)
# Weighted by repetition: most histories should reach approvals, releases and forwards.
step = st.one_of(ready, ready, approve, approve, approve, forward, forward, clock, evidence)


@dataclass
class Reference:
    """What a correct gate may do, computed from the history without decide()."""

    genuine: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    newer_seen: dict[int, bool] = field(default_factory=dict)
    evidence: dict[tuple[str, str], str] = field(default_factory=dict)
    created_at: dict[int, int] = field(default_factory=dict)
    scope_steps: list[int] = field(default_factory=list)
    newest: int = 1


def make_approval(
    revision: int, variant: str, now: datetime, n: int
) -> tuple[dict[str, Any], bool]:
    packet = cached_packet(revision, False)
    start, end = now - timedelta(minutes=1), now + timedelta(days=2)
    kwargs: dict[str, Any] = {"valid_from": start, "valid_until": end, "decision_id": f"AD-{n}"}
    table: dict[str, dict[str, Any]] = {
        "good": {},
        "good-other": {"approver": SECOND_OWNER, "seed": SECOND_SEED},
        "wrong-key": {"seed": SECOND_SEED},
        "stranger": {"approver": "user:m@x", "seed": STRANGER_SEED},
        "self": {"approver": PREPARER, "seed": PREPARER_SEED},
        "hash": {"packet_hash": "sha256:" + "0" * 64},
        "audience": {"audience": ["exec:cro", "user:x@partner"]},
        "inverted": {"valid_from": end, "valid_until": start},
        "too-long": {"valid_until": start + timedelta(days=8)},
        "past": {"valid_from": now - timedelta(days=2), "valid_until": now - timedelta(days=1)},
        "reject": {"decision": "reject"},
        "future": {"valid_from": now + timedelta(hours=1)},
        "forged": {},
    }
    data = approval_data(packet, **{**kwargs, **table[variant]})
    if variant == "forged":
        data["audience"] = ["exec:cro", "exec:vp-support"]
    genuine = variant in ("good", "good-other", "future")
    return data, genuine


def command_for(s: tuple[Any, ...], now: datetime, n: int, ref: Reference) -> Command:
    kind = s[0]
    if kind == "ready":
        _, revision, conflicting = s
        evidence = {k: EvidenceVersion(v, "e") for k, v in ref.evidence.items()}
        ref.created_at.setdefault(revision, n)
        ref.newest = max(ref.newest, revision)
        return PacketReady(f"ready-{n}", cached_packet(revision, conflicting), evidence)
    if kind == "approve":
        revision = s[1] or ref.newest
        data, genuine = make_approval(revision, s[2], now, n)
        if genuine:
            ref.genuine.setdefault(revision, []).append(data)
        return ApprovalDecided(f"ap-{n}", data)
    if kind == "evidence":
        k, r = (
            ("audience-scope", LANE)
            if s[1] == "scope"
            else (("incident-impact", "INC-1") if s[1] == "INC-1" else ("contract", "MSA-1"))
        )
        ref.evidence[(k, r)] = s[2]
        if k == "audience-scope":
            ref.scope_steps.append(n)
        return EvidenceChanged(f"ev-{n}", evidence_changed(k, r, s[2]))
    if kind == "forward":
        target = {"packet_id": "RP-1", "revision": s[1]}
        return ForwardRequested(f"fr-{n}", builders.forward(target, s[2], request_id=f"FR-{n}"))
    return Tick()


@functools.cache
def cached_packet(revision: int, conflicting: bool) -> dict[str, Any]:
    """Hashing a packet is the slow part of building one; nothing mutates them."""
    return packet_data(revision, body={"variant": "conflict"} if conflicting else None)


@functools.cache
def history_governance() -> Governance:
    # The preparer is also an owner here, so only the self-approval rule can stop them.
    owners = [(OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED), (PREPARER, PREPARER_SEED)]
    return governance(owners=owners)


@given(st.lists(step, min_size=1, max_size=25))
def test_random_histories_keep_every_invariant(steps: list[tuple[Any, ...]]) -> None:
    log = Log(gov=history_governance())
    ref = Reference()
    now = T0
    released: dict[int, dict[str, Any]] = {}
    steps = [("ready", 1, False), *steps]
    ended: set[int] = set()
    for n, s in enumerate(steps):
        if s[0] == "clock":
            now += timedelta(seconds=s[1])
        command = command_for(s, now, n, ref)
        decision = log.send(command, now)
        if s[0] == "ready":
            ref.newer_seen.update({r: True for r in range(1, s[1])})
        for fact in decision.facts:
            for out in fact.outbox:
                data = out.data
                if out.topic == "release-manifest":
                    revision = int(data["revision"])
                    assert revision not in released, "two manifests for one revision"
                    assert revision not in ended, "released after a terminal state"
                    assert not ref.newer_seen.get(revision), "released under a newer revision"
                    approvals = [
                        a
                        for a in ref.genuine.get(revision, [])
                        if a["audience"] == data["audience"]
                        and a["decision_id"] == data["decision_id"]
                    ]
                    assert approvals, "released without a genuine owner approval"
                    packet = cached_packet(revision, False)
                    cited = {(e["kind"], e["ref"]): e["version"] for e in packet["evidence_refs"]}
                    for key, version in ref.evidence.items():
                        assert cited.get(key, version) == version, "released on stale evidence"
                    assert not [x for x in ref.scope_steps if x > ref.created_at[revision]], (
                        "released after an audience-scope change"
                    )
                    assert data["packet_hash"] == packet["packet_hash"]
                    assert data["blocked_requests"] == packet["blocked_requests"]
                    assert data["valid_from"] <= data["released_at"] < data["valid_until"]
                    released[revision] = data
                if out.topic == "forward-allowed":
                    revision = int(data["revision"])
                    assert revision in released and revision not in ended
                    assert set(data["recipients"]) <= set(released[revision]["audience"])
                    assert set(data["recipients"]) <= set(RECIPIENTS)
                if out.topic == "packet-lifecycle" and data["from_state"] != data["to_state"]:
                    revision = int(data["revision"])
                    assert revision not in ended, "a terminal revision changed"
                    if data["to_state"] in ("superseded", "expired", "rejected"):
                        ended.add(revision)
    for facts in group_by_revision(log.facts).values():
        assert verify_chain(facts) is None
    assert OWNER != PREPARER
