"""What the bench feeds the service: pre-encoded lifecycles and realistic stored facts.

Everything costly (packet hashes, Ed25519 signatures, JSON) is done here, before any clock
starts, so the bench process spends its CPU on Kafka I/O while the service is measured.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.adapters.mongo_store import projection_doc, snapshot_doc, to_doc
from service.adapters.store import Projection
from service.domain.commands import ApprovalDecided, Command, ForwardRequested, PacketReady
from service.domain.decide import decide
from service.domain.facts import Fact
from service.domain.governance import parse_governance
from service.domain.revision import fold_packet
from tests.support.builders import approval, envelope, forward, governance_yaml, packet

# Inside the approved audience (tests.support.builders.AUDIENCE): both forwards are allowed.
FORWARD_TO = (["exec:cro"], ["exec:general-counsel"])
INPUTS_PER_LIFECYCLE = 4  # packet-ready, approval-decision, 2 x forward-request


@dataclass(frozen=True)
class Msg:
    topic: str  # logical input topic
    key: bytes
    value: bytes
    event_id: str


@dataclass(frozen=True)
class Lifecycle:
    packet_id: str
    ready: Msg
    approve: Msg
    forwards: tuple[Msg, Msg]
    forward_outputs: tuple[str, str]  # ids of the forward-allowed events they cause


def _msg(topic: str, data: dict[str, Any], subject: str, event_id: str) -> Msg:
    value = json.dumps(envelope(topic, data, event_id, subject), separators=(",", ":"))
    return Msg(topic, subject.encode(), value.encode(), event_id)


def lifecycle(packet_id: str) -> Lifecycle:
    pkt = packet(packet_id, 1)
    appr = approval(pkt)
    fwd = [forward(pkt, r) for r in FORWARD_TO]
    return Lifecycle(
        packet_id=packet_id,
        ready=_msg("packet-ready", pkt, packet_id, f"ev-ready-{packet_id}"),
        approve=_msg("approval-decision", appr, packet_id, f"ev-appr-{packet_id}"),
        forwards=(
            _msg("forward-request", fwd[0], packet_id, f"ev-fwd-{fwd[0]['request_id']}"),
            _msg("forward-request", fwd[1], packet_id, f"ev-fwd-{fwd[1]['request_id']}"),
        ),
        forward_outputs=(f"{fwd[0]['request_id']}:allowed", f"{fwd[1]['request_id']}:allowed"),
    )


def lifecycles(count: int, tag: str) -> list[Lifecycle]:
    """`count` distinct lifecycles; output event ids are derived from these ids."""
    run = uuid.uuid4().hex[:6]
    return [lifecycle(f"BP-{tag}-{run}-{i:07d}") for i in range(count)]


# --- stored facts for the growth runs -------------------------------------------------

SEED_ID = "SEEDPACKET0000000000"


def _seed_facts(now: datetime) -> list[Fact]:
    """One released lifecycle's facts, produced by the domain itself (decide + fold)."""
    governance = parse_governance(governance_yaml())
    pkt = packet(SEED_ID, 1)
    appr = approval(pkt, valid_from=now - timedelta(seconds=5))
    commands: list[Command] = [
        PacketReady(f"ev-ready-{SEED_ID}", pkt, {}),
        ApprovalDecided(f"ev-appr-{SEED_ID}", appr),
        *(
            ForwardRequested(f"ev-fwd-{SEED_ID}-{i}", forward(pkt, r))
            for i, r in enumerate(FORWARD_TO)
        ),
    ]
    facts: list[Fact] = []
    for command in commands:
        state = fold_packet(SEED_ID, facts)
        facts.extend(decide(SEED_ID, state, command, now, governance).facts)
    return facts


class FactCloner:
    """Every document the service stores for many packets, cloned from one domain-built one.

    Fact, snapshot and projection documents, made by the store's own functions; the clone
    swaps the packet id everywhere (ids, data, outbox) by text replacement of the stored
    JSON, so sizes and shapes stay exactly those the service writes. The hash chain is not
    recomputed (cloned chains do not re-verify); nothing on the measured path checks it.
    """

    def __init__(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        facts = _seed_facts(now)
        self.facts_per_packet = len(facts)
        self.kinds = [f.kind for f in facts]
        self._facts = [to_doc(f) for f in facts]
        self._snapshot = snapshot_doc(SEED_ID, facts)
        after = fold_packet(SEED_ID, facts)
        self._revisions = [projection_doc(Projection.of(r)) for r in after.values()]
        self.fact_bytes = sum(len(json.dumps(d, default=str)) for d in self._facts)

    def packet(
        self, packet_id: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        assert len(packet_id) == len(SEED_ID), "same length keeps document sizes identical"
        facts = [_swap(d, packet_id) for d in self._facts]
        revisions = [_swap(d, packet_id) for d in self._revisions]
        return facts, revisions, _swap(self._snapshot, packet_id)


def _swap(doc: dict[str, Any], packet_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out[key] = value.replace(SEED_ID, packet_id) if isinstance(value, str) else value
    return out
