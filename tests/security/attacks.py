"""What the security tests share: the governance they run under, and how an attack is judged.

An attack is judged by what the running service does with it, seen only through Kafka and
HTTP: the refusal on packet-lifecycle (or the blocked-forward, or the dead letter) with its
specific reason, the fact recording it in GET /packets/{id}, and a good event sent after it
on the same key (so the same partition) that is still processed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from aiokafka.structs import RecordMetadata

from tests.support.builders import (
    OWNER,
    OWNER_SEED,
    PREPARER,
    SECOND_SEED,
    approval,
    envelope,
    governance_yaml,
    lane_yaml,
    new_id,
    packet,
)
from tests.support.bus import Bus, Event
from tests.support.service import ServiceProcess

# A lane where the packets' preparer is also a release owner: the only way to reach the
# self-approval check, which runs after the signature check.
SELF_LANE = "exec-self-review"
PREPARER_SEED = hashlib.sha256(b"release-gate security tests: preparer key (TEST ONLY)").digest()
STRANGER = "user:mallory@outside"
UNKNOWN_LANE = "exec-unknown-lane"
# Put in every packet body the tests send; the service's logs must never show it.
BODY_MARKER = f"body-marker-{uuid.uuid4().hex}"
# MAX_MESSAGE_BYTES of the tight service: ~100 KiB is over it, yet accepted by the broker.
TIGHT_LIMIT = 65_536
SEEDS = {"owner": OWNER_SEED, "second owner": SECOND_SEED, "preparer": PREPARER_SEED}


def security_governance() -> str:
    """The e2e lanes plus SELF_LANE (no required evidence), owned by the preparer and by the
    regular owner."""
    owners = ((PREPARER, PREPARER_SEED), (OWNER, OWNER_SEED))
    recipients = ("exec:cro", "exec:general-counsel")
    return governance_yaml() + lane_yaml(
        SELF_LANE, owners=owners, recipients=recipients, required=None
    )


def marked_packet(packet_id: str, revision: int = 1, **kwargs: Any) -> dict[str, Any]:
    """A valid packet whose body carries BODY_MARKER."""
    body = {"customer": "Northwind", "draft": revision, "secret_note": BODY_MARKER}
    return packet(packet_id, revision, body=kwargs.pop("body", body), **kwargs)


def raw_event(
    type_: str, data: Mapping[str, Any], subject: str, event_id: str | None = None, **extra: Any
) -> bytes:
    """The JSON bytes of one CloudEvent, as a producer would send them."""
    event = envelope(type_, dict(data), event_id or new_id("evt"), subject)
    event.update(extra)
    return json.dumps(event).encode()


async def produce(bus: Bus, topic: str, value: bytes | None, key: str) -> RecordMetadata:
    """Sends raw bytes (or a null value) and says where they landed."""
    return await bus.producer.send_and_wait(bus.prefix + topic, value, key=key.encode())


async def dead_lettered(
    bus: Bus, topic: str, value: bytes | None, key: str, kind: str, detail: str = ""
) -> tuple[RecordMetadata, dict[str, Any]]:
    """Sends an attack and awaits its dead letter: exact kind, raw bytes kept, detail named."""
    where = await produce(bus, topic, value, key)
    [dead] = await bus.wait_for(
        "dead-letter", f"dead-letter:{topic}:{where.partition}:{where.offset}"
    )
    data: dict[str, Any] = dead["data"]
    assert data["error_kind"] == kind, data["error_detail"]
    assert data["source_topic"] == topic
    assert (data["partition"], data["offset"], data["key"]) == (where.partition, where.offset, key)
    assert base64.b64decode(data["raw_value"], validate=True) == (value or b"")
    assert detail in data["error_detail"], data["error_detail"]
    return where, data


async def ready(bus: Bus, pkt: Mapping[str, Any]) -> RecordMetadata:
    """A good packet-ready, awaited until the revision is pending."""
    pid, rev = pkt["packet_id"], pkt["revision"]
    where = await produce(bus, "packet-ready", raw_event("packet-ready", pkt, pid), pid)
    await bus.wait_for("packet-lifecycle", f"{pid}@r{rev}:lifecycle:pending")
    return where


async def rejected_by_owner(bus: Bus, pkt: Mapping[str, Any]) -> RecordMetadata:
    """The good approval-decision after an attack: the owner's valid reject is processed."""
    pid, rev = pkt["packet_id"], pkt["revision"]
    decision = approval(pkt, decision="reject")
    where = await produce(
        bus, "approval-decision", raw_event("approval-decision", decision, pid), pid
    )
    [note] = await bus.wait_for("packet-lifecycle", f"{pid}@r{rev}:lifecycle:rejected")
    assert note["data"]["reason"] == "rejected-by-owner"
    return where


async def audit(service: ServiceProcess, packet_id: str) -> list[dict[str, Any]]:
    """Every fact of the packet from GET /packets/{id}; every chain must verify."""
    response = await service.get(f"/packets/{packet_id}")
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["revisions"], view
    assert all(rev["chain"] == "ok" for rev in view["revisions"]), view
    return [fact for rev in view["revisions"] for fact in rev["facts"]]


async def audited(
    service: ServiceProcess, packet_id: str, cause_event_id: str, kind: str, reason: str
) -> dict[str, Any]:
    """The one decision the input `cause_event_id` left in the packet's audit trail. An input
    that named a revision not stored yet was first held: its `parked` fact comes before."""
    facts = [f for f in await audit(service, packet_id) if f["cause_event_id"] == cause_event_id]
    decided = [f for f in facts if f["kind"] != "parked"]
    assert [(f["kind"], f["reason"]) for f in decided] == [(kind, reason)], facts
    assert facts[-1] is decided[0], facts  # a hold, if any, precedes the decision
    return decided[0]


async def refused(
    bus: Bus, service: ServiceProcess, decision: Mapping[str, Any], reason: str, detail: str = ""
) -> tuple[RecordMetadata, Event]:
    """Sends an approval-decision that must be refused with `reason`: announced and audited."""
    pid, event_id = decision["packet_id"], new_id("evt")
    value = raw_event("approval-decision", decision, pid, event_id)
    where = await produce(bus, "approval-decision", value, pid)
    [note] = await bus.wait_for(
        "packet-lifecycle", lambda e: e["data"]["cause_event_id"] == event_id
    )
    data = note["data"]
    assert data["reason"] == reason, data
    assert data["from_state"] == data["to_state"], data  # a refusal never moves the state
    assert detail in data["detail"], data["detail"]
    fact = await audited(service, pid, event_id, "refused", reason)
    assert fact["revision"] == decision["revision"]
    assert fact["data"]["decision_id"] == decision["decision_id"]
    return where, note


def manifests_of(bus: Bus, packet_id: str) -> list[Event]:
    return bus.matching("release-manifest", lambda e: e["data"]["packet_id"] == packet_id)
