"""The domain tests' harness: a fact log driving decide(), and the shared builders
(tests/support/builders.py) with the domain tests' fixed defaults: packet RP-1 in LANE
citing INC-1 and MSA-1, approval AD-1 valid from T0 + 5 min to T0 + 3 days."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from service.contract.envelope import envelope_of
from service.domain.commands import Command
from service.domain.decide import Decision, decide
from service.domain.facts import Fact
from service.domain.governance import Governance, parse_governance
from service.domain.revision import Revision, fold_packet, with_facts
from tests.support.builders import (
    LANE,
    OWNER,
    OWNER_SEED,
    OWNERS,
    PREPARER,
    RECIPIENTS,
    REQUIRED_EVIDENCE,
    approval,
    lane_yaml,
    packet,
)

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
EVIDENCE = (("incident-impact", "INC-1", "7"), ("contract", "MSA-1", "3"))


def governance(
    recipients: Sequence[str] = RECIPIENTS,
    max_validity: str = "P7D",
    max_pending: str = "P14D",
    owners: Sequence[tuple[str, bytes]] = OWNERS,
    required: Sequence[str] = REQUIRED_EVIDENCE,
    quorum: int | None = None,
) -> Governance:
    """LANE alone, as lane_yaml() writes it with these settings."""
    lane = lane_yaml(LANE, max_pending, owners, recipients, max_validity, required, quorum)
    return parse_governance("lanes:\n" + lane)


def packet_data(
    revision: int = 1,
    packet_id: str = "RP-1",
    lane: str = LANE,
    evidence: Sequence[tuple[str, str, str]] = EVIDENCE,
    prepared_by: str = PREPARER,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """builders.packet() with evidence given as (kind, ref, version)."""
    refs = [{"kind": k, "ref": r, "version": v} for k, r, v in evidence]
    return packet(packet_id, revision, lane, evidence=refs, body=body, prepared_by=prepared_by)


def approval_data(
    pkt: Mapping[str, Any],
    decision: str = "approve",
    approver: str = OWNER,
    seed: bytes = OWNER_SEED,
    audience: list[str] | None = None,
    valid_from: datetime = T0 + timedelta(minutes=5),
    valid_until: datetime = T0 + timedelta(days=3),
    decision_id: str = "AD-1",
    **overrides: Any,
) -> dict[str, Any]:
    """builders.approval() with the window fixed around T0 and decision id AD-1."""
    return approval(
        pkt, decision, approver, seed, audience, valid_from, valid_until, decision_id, **overrides
    )


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
