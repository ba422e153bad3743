"""Builders for domain tests: governance, signed approvals, packets, and a fact-log harness."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.contract.envelope import envelope_of
from service.domain.canonical import option_set_hash, packet_hash
from service.domain.commands import Command
from service.domain.decide import Decision, decide
from service.domain.facts import Fact
from service.domain.governance import Governance, parse_governance
from service.domain.revision import Revision, fold_packet, with_facts
from service.domain.signing import sign
from service.domain.times import format_time

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
LANE = "exec-customer-review"
OWNER = "user:dana.ortiz@support"
OTHER_OWNER = "user:sam.reyes@support"
PREPARER = "user:lee.park@support"
OWNER_SEED = base64.b64decode("ZlIqqZSUCgyUZjlJEgTV7vZHjPlgyhc+mIiPLXXADMc=")
OTHER_SEED = bytes(range(32))
STRANGER_SEED = bytes(range(1, 33))
AUDIENCE = ["exec:cro", "exec:general-counsel"]
AUTHORIZED = ["exec:cro", "exec:general-counsel", "exec:vp-support", "exec:strategic-account-exec"]


def public_b64(seed: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return base64.b64encode(key.public_bytes_raw()).decode()


def governance_yaml(
    recipients: list[str] | None = None,
    max_validity: str = "P7D",
    max_pending: str = "P14D",
    owners: list[tuple[str, bytes]] | None = None,
    required: list[str] | None = None,
) -> str:
    recipients = AUTHORIZED if recipients is None else recipients
    owners = [(OWNER, OWNER_SEED), (OTHER_OWNER, OTHER_SEED)] if owners is None else owners
    required = ["incident-impact", "contract"] if required is None else required
    owner_lines = "".join(
        f'      - id: "{oid}"\n        public_key: "{public_b64(seed)}"\n' for oid, seed in owners
    )
    return (
        "lanes:\n"
        f"  - lane_id: {LANE}\n"
        "    name: Executive customer-review decision lane\n"
        f"    authorized_recipients: [{', '.join(recipients)}]\n"
        f"    max_validity: {max_validity}\n"
        f"    max_pending: {max_pending}\n"
        f"    required_evidence: [{', '.join(required)}]\n"
        "    release_owners:\n" + owner_lines
    )


def governance(**kwargs: Any) -> Governance:
    return parse_governance(governance_yaml(**kwargs))


def packet_data(
    revision: int = 1,
    packet_id: str = "RP-1",
    lane: str = LANE,
    evidence: list[tuple[str, str, str]] | None = None,
    prepared_by: str = PREPARER,
    options: int = 3,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    evidence = (
        [("incident-impact", "INC-1", "7"), ("contract", "MSA-1", "3")]
        if evidence is None
        else evidence
    )
    data: dict[str, Any] = {
        "packet_id": packet_id,
        "revision": revision,
        "lane_id": lane,
        "prepared_by": prepared_by,
        "title": f"Outage recovery package r{revision}",
        "options": [
            {
                "option_id": f"opt-{i}",
                "summary": f"option {i}",
                "credit_cap": {"amount": f"{(i + 1) * 1000}.00", "currency": "USD"},
            }
            for i in range(options)
        ],
        "blocked_requests": [
            {"term_id": "fee-holiday", "description": "waive fees", "reason": "open-ended"},
            {"term_id": "contract-rewrite", "description": "rewrite MSA", "reason": "legal"},
        ],
        "evidence_refs": [{"kind": k, "ref": r, "version": v} for k, r, v in evidence],
        "body": dict(body or {"customer": "Northwind", "revision_note": revision}),
    }
    data["option_set_hash"] = option_set_hash(data["options"])
    data["packet_hash"] = packet_hash(data)
    return data


def approval_data(
    packet: Mapping[str, Any],
    decision: str = "approve",
    approver: str = OWNER,
    seed: bytes = OWNER_SEED,
    audience: list[str] | None = None,
    valid_from: datetime = T0 + timedelta(minutes=5),
    valid_until: datetime = T0 + timedelta(days=3),
    decision_id: str = "AD-1",
    **overrides: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "decision_id": decision_id,
        "packet_id": packet["packet_id"],
        "revision": packet["revision"],
        "decision": decision,
        "approver": approver,
        "lane_id": packet["lane_id"],
        "packet_hash": packet["packet_hash"],
        "option_set_hash": packet["option_set_hash"],
        "audience": AUDIENCE if audience is None else audience,
        "valid_from": format_time(valid_from),
        "valid_until": format_time(valid_until),
    }
    if decision == "reject":
        data["reason"] = "not bounded enough"
    data.update(overrides)
    data["signature"] = sign(data, seed)
    return data


class Log:
    """An in-memory fact log for one packet, driving decide() the way a handler does."""

    def __init__(self, packet_id: str = "RP-1", gov: Governance | None = None) -> None:
        self.packet_id = packet_id
        self.governance = gov or governance()
        self._facts: list[Fact] = []
        self._revisions: dict[int, Revision] = {}

    @property
    def facts(self) -> list[Fact]:
        return self._facts

    @facts.setter
    def facts(self, facts: list[Fact]) -> None:  # tests that rewrite history refold
        self._facts = list(facts)
        self._revisions = fold_packet(self.packet_id, self._facts)

    @property
    def revisions(self) -> dict[int, Revision]:
        return dict(self._revisions)

    def state(self, revision: int) -> str | None:
        rev = self.revisions.get(revision)
        return None if rev is None or rev.state is None else rev.state.value

    def send(self, command: Command, now: datetime = T0) -> Decision:
        decision = decide(self.packet_id, self._revisions, command, now, self.governance)
        self._facts.extend(decision.facts)
        self._revisions = with_facts(self._revisions, self.packet_id, decision.facts)
        return decision


def events_of(decision: Decision, topic: str) -> list[Mapping[str, Any]]:
    return [envelope_of(o) for f in decision.facts for o in f.outbox if o.topic == topic]


def lifecycle(decision: Decision) -> list[tuple[Any, Any, Any]]:
    return [
        (e["data"]["from_state"], e["data"]["to_state"], e["data"]["reason"])
        for e in events_of(decision, "packet-lifecycle")
    ]
