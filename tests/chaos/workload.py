"""The chaos workload: packets with two revisions, approvals (mostly genuine, some forged or
bad), forwards inside and outside the audience, evidence changes, duplicates and malformed
messages, laid out in rounds so a fault can strike in the middle of the stream."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tests.chaos.checker import Input
from tests.support.builders import (
    FAST_LANE,
    LANE,
    SECOND_OWNER,
    SECOND_SEED,
    STRANGER_SEED,
    approval,
    envelope,
    evidence_changed,
    forward,
    now,
    packet,
)

INSIDE = ["exec:general-counsel"]
OUTSIDE = ["exec:cro", "user:outsider@partner"]
UNKNOWN_LANE = "no-such-lane"


@dataclass(frozen=True)
class Plan:
    """Knobs of one workload. Lags are in rounds after the packet's own round."""

    packets: int = 40
    seed: int = 7
    approve_lag: int = 6  # an approver reviews the pending revision first
    forward_lags: tuple[int, ...] = (4,)
    window: timedelta = timedelta(days=3)  # approval validity
    fast_every: int = 0  # every n-th packet in the fast lane (approval timeout of seconds)
    fast_approve_lags: tuple[int, ...] = (2,)  # spread fast approvals around the timeout
    malformed: int = 6
    # Every n-th packet's approval is produced a round *before* its packet-ready: the gate
    # must hold it until the revision is stored (service/domain/parking.py), then decide it.
    early_every: int = 0


@dataclass(frozen=True)
class Step:
    round: int
    topic: str
    key: str
    build: Callable[[], Input]  # called when sent, so approval windows start then
    # An approver decides on a revision they have seen: sent only once (packet_id, revision)
    # has been created, whatever a fault did to the timing of the topics.
    after: tuple[str, int] | None = None


class Workload:
    def __init__(self, tag: str, plan: Plan) -> None:
        self.tag, self.plan = tag, plan
        self.rng = random.Random(plan.seed)
        self.steps: list[Step] = []
        self.latest: list[dict[str, Any]] = []  # each packet's newest revision
        self._ids = 0
        groups = max(2, plan.packets // 5)
        # Evidence of groups 0 and 1 changes mid-stream: live citers must end superseded.
        self.changes = {0: plan.packets // 2, 1: (3 * plan.packets) // 4}
        for group, at in self.changes.items():
            data = evidence_changed("incident-impact", self.ref(group), "2")
            self._add(at, "evidence-changed", data, key=f"incident-impact:{self.ref(group)}")
        for i in range(plan.packets):
            self._packet(i, i % groups)
        for n in range(plan.malformed):
            self._malformed(n, 1 + n * max(1, plan.packets // max(1, plan.malformed)))
        self.steps.sort(key=lambda s: s.round)

    def late_forwards(self) -> list[Step]:
        """One forward inside the audience per packet, sent once the stream has settled:
        whatever the faults did to cross-topic timing, each released revision is asked."""
        planned = len(self.steps)
        for pkt in self.latest:
            data = forward(pkt, INSIDE, request_id=f"{pkt['packet_id']}-late")
            self._add(0, "forward-request", data)
        late = self.steps[planned:]
        del self.steps[planned:]
        return late

    def ref(self, group: int) -> str:
        return f"INC-{self.tag}-{group}"

    def _id(self) -> str:
        self._ids += 1
        return f"{self.tag}-e{self._ids:05d}"

    def _add(
        self,
        at: int,
        type_: str,
        data: dict[str, Any],
        key: str | None = None,
        dead: frozenset[str] = frozenset(),
        genuine: bool = False,
        make: Callable[[], dict[str, Any]] | None = None,
        after: tuple[str, int] | None = None,
    ) -> Step:
        event_id = self._id()
        subject = data["ref"] if type_ == "evidence-changed" else data["packet_id"]

        def build() -> Input:
            body = make() if make is not None else data
            raw = json.dumps(envelope(type_, body, event_id, subject)).encode()
            return Input(type_, raw, dead=dead, genuine=genuine)

        step = Step(at, type_, key or subject, _once(build), after)
        self.steps.append(step)
        return step

    def _packet(self, i: int, group: int) -> None:
        plan, rng = self.plan, self.rng
        pid = f"{self.tag}-P{i:03d}"
        changed_at = self.changes.get(group)
        version = "2" if changed_at is not None and i >= changed_at and rng.random() < 0.5 else "1"
        lane = FAST_LANE if plan.fast_every and i % plan.fast_every == 0 else LANE
        evidence = [
            {"kind": "incident-impact", "ref": self.ref(group), "version": version},
            {"kind": "contract", "ref": f"MSA-{self.tag}", "version": "3"},
        ]
        if i % 17 == 5:
            lane = UNKNOWN_LANE
        if i % 19 == 7:
            evidence = evidence[:1]  # the lanes require a contract: evidence-incomplete
        revisions = [packet(pid, r, lane=lane, evidence=evidence) for r in (1, 2)]
        if i % 4 == 3:
            revisions = revisions[:1]
        self.latest.append(revisions[-1])
        for pkt in revisions:
            self._add(i, "packet-ready", pkt)
        if i % 11 == 0:  # the same revision again under a new event id: a duplicate
            self._add(i + 1, "packet-ready", revisions[0])
        if i % 13 == 6:  # the same revision number with other content: revision-conflict
            other = packet(pid, 1, lane=lane, evidence=evidence, body={"tampered": i})
            self._add(i + 1, "packet-ready", other, dead=frozenset({"revision-conflict"}))
        lag = plan.approve_lag
        if lane == FAST_LANE:
            lag = plan.fast_approve_lags[i // plan.fast_every % len(plan.fast_approve_lags)]
        early = bool(plan.early_every) and i % plan.early_every == 1
        step = self._approval(i, max(0, i - 1) if early else i + lag, revisions, early)
        if i % 7 == 0:  # a redelivered approval: the very same bytes again
            self.steps.append(Step(step.round + 1, step.topic, step.key, step.build, step.after))
        for n, forward_lag in enumerate(plan.forward_lags):
            self._forwards(i, i + lag + forward_lag, revisions[-1], n)

    def _approval(
        self, i: int, at: int, revisions: list[dict[str, Any]], early: bool = False
    ) -> Step:
        """Mostly genuine owner approvals; every tenth of each kind of bad one."""
        target, window, variant = revisions[-1], self.plan.window, i % 10
        kw: dict[str, Any] = {}
        genuine = True
        if variant == 3:
            kw = {"approver": SECOND_OWNER, "seed": SECOND_SEED}
        elif variant == 5:  # the window opens later: the scheduler releases it
            kw = {"valid_from": timedelta(seconds=2)}
        elif variant == 6:  # claims the owner, signed by a stranger: bad-signature
            kw, genuine = {"seed": STRANGER_SEED}, False
        elif variant == 7:  # signed by the owner, but over another packet hash
            kw = {"packet_hash": "sha256:" + f"{self.rng.getrandbits(256):064x}"}
            genuine = False
        elif variant == 8:
            kw, genuine = {"decision": "reject"}, False
        elif variant == 9 and len(revisions) > 1:  # exact hashes of the superseded r1
            target = revisions[0]
        elif variant == 9:  # an audience outside the lane
            kw, genuine = {"audience": ["exec:cro", "user:outsider@partner"]}, False

        def make() -> dict[str, Any]:
            args = dict(kw)
            start = now() + args.pop("valid_from", timedelta(seconds=-1))
            if args.get("decision") == "reject":
                return approval(target, **args)
            return approval(target, valid_from=start, valid_until=start + window, **args)

        seen = None if early else (str(target["packet_id"]), int(target["revision"]))
        return self._add(at, "approval-decision", target, make=make, genuine=genuine, after=seen)

    def _forwards(self, i: int, at: int, pkt: dict[str, Any], n: int) -> None:
        rid = f"{self.tag}-FR{i:03d}-{n}"
        self._add(at, "forward-request", forward(pkt, INSIDE, request_id=f"{rid}-in"))
        self._add(at, "forward-request", forward(pkt, OUTSIDE, request_id=f"{rid}-out"))
        if i % 9 == 4:
            data = forward(pkt, INSIDE, request_id=f"{rid}-r7", revision=7)
            self._add(at, "forward-request", data)
        if i % 23 == 0:
            data = {**forward(pkt, INSIDE, request_id=f"{rid}-x"), "packet_id": f"{self.tag}-nope"}
            data["manifest_id"] = f"{data['packet_id']}@r1"
            self._add(at, "forward-request", data)

    def _malformed(self, n: int, at: int) -> None:
        nonce = f"{self.tag}-bad{n}"
        kind = n % 6
        if kind == 0:
            raw, topic, dead = b"\xff{not json " + nonce.encode(), "packet-ready", "invalid-json"
        elif kind == 1:
            raw, topic = json.dumps({"hello": nonce}).encode(), "approval-decision"
            dead = "not-a-cloudevent"
        elif kind == 2:
            event = envelope("forward-request", forward(packet(nonce, 1), INSIDE), nonce, nonce)
            raw, topic = json.dumps({**event, "schemaversion": 2}).encode(), "forward-request"
            dead = "unsupported-schema-version"
        elif kind == 3:
            event = envelope("approval-decision", {"x": 1}, nonce, nonce)
            raw, topic, dead = json.dumps(event).encode(), "packet-ready", "unknown-type"
        elif kind == 4:
            data = {**packet(nonce, 1), "title": "changed after hashing"}
            raw = json.dumps(envelope("packet-ready", data, nonce, nonce)).encode()
            topic, dead = "packet-ready", "hash-mismatch"
        else:
            data = {**forward(packet(nonce, 1), INSIDE), "surprise": True}
            raw = json.dumps(envelope("forward-request", data, nonce, nonce)).encode()
            topic, dead = "forward-request", "invalid-data"
        item = Input(topic, raw, dead=frozenset({dead}))
        self.steps.append(Step(at, topic, nonce, lambda: item))


def _once(build: Callable[[], Input]) -> Callable[[], Input]:
    """Built when first sent; a resend (or a retry after an outage) is the same bytes."""
    made: list[Input] = []

    def first() -> Input:
        if not made:
            made.append(build())
        return made[0]

    return first
