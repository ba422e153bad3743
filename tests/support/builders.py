"""The one set of test builders every tier uses.

Identities and their test keys, governance YAML, input payloads with real hashes and
signatures, the CloudEvent envelope a producer sends, access to the contract's example
fixtures (tests/fixtures/contract), release manifests and the gate's test keys. Tiers with
fixed defaults of their own (the domain tests' T0 and INC-1 evidence) wrap these; none builds
a payload of its own.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.adapters.gate_key import GateKey, gate_key_from_private, load_gate_key
from service.domain.canonical import manifest_hash, option_set_hash, packet_hash
from service.domain.signing import sign
from service.domain.times import format_time

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "contract"
# The gate's signing key for test runs only (attestations, checkpoints): never a real one.
GATE_KEY_FILE = ROOT / "tests" / "fixtures" / "gate-key.pem"


# The contract's example fixtures: read fresh on every call, safe to mutate.


def text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def load(name: str) -> Any:
    return json.loads(text(name))


def event(name: str) -> dict[str, Any]:
    """A fresh deep copy of an example CloudEvent, safe to mutate."""
    return copy.deepcopy(load(name))


def vectors() -> dict[str, str]:
    result: dict[str, str] = load("vectors.json")
    return result


# Identities and keys (TEST ONLY). The owner's seed is the contract's published vector.

OWNER = "user:dana.ortiz@support"
OWNER_SEED = base64.b64decode(vectors()["owner_private_key_seed_b64_TEST_ONLY"])
OWNER_PUBLIC_KEY = base64.b64decode(vectors()["owner_public_key_b64"])
SECOND_OWNER = "user:sam.reyes@support"
SECOND_SEED = bytes(range(32))
STRANGER_SEED = bytes(range(1, 33))
THIRD_OWNER = "user:kim.ito@support"  # for quorum lanes (two of three)
THIRD_SEED = bytes(range(3, 35))
AUDITOR = "user:audit@support"  # a gate-wide auditor: reads every packet, decides nothing
AUDITOR_SEED = bytes(range(2, 34))
PREPARER = "user:lee.park@support"
LANE = "exec-customer-review"
FAST_LANE = "exec-fast-review"  # max_pending of a few seconds, for approval timeouts
AUDIENCE = ["exec:cro", "exec:general-counsel"]
RECIPIENTS = ("exec:cro", "exec:general-counsel", "exec:vp-support", "exec:strategic-account-exec")
OWNERS = ((OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED))
REQUIRED_EVIDENCE = ("incident-impact", "contract")


def public_b64(seed: bytes) -> str:
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return base64.b64encode(raw).decode()


# Governance.


def lane_yaml(
    lane_id: str,
    pending: str = "P14D",
    owners: Sequence[tuple[str, bytes]] = OWNERS,
    recipients: Sequence[str] = RECIPIENTS,
    max_validity: str = "P7D",
    required: Sequence[str] | None = REQUIRED_EVIDENCE,
    quorum: int | None = None,
) -> str:
    """One lane entry of a governance file (`required=None` leaves required_evidence out;
    `quorum` sets approvals_required)."""
    listed = "".join(
        f'      - id: "{oid}"\n        public_key: "{public_b64(seed)}"\n' for oid, seed in owners
    )
    evidence = "" if required is None else f"    required_evidence: [{', '.join(required)}]\n"
    if quorum is not None:
        evidence += f"    approvals_required: {quorum}\n"
    return (
        f"  - lane_id: {lane_id}\n"
        f"    name: {lane_id}\n"
        f"    authorized_recipients: [{', '.join(recipients)}]\n"
        f"    max_validity: {max_validity}\n"
        f"    max_pending: {pending}\n" + evidence + "    release_owners:\n" + listed
    )


def auditors_yaml(auditors: Sequence[tuple[str, bytes]] = ((AUDITOR, AUDITOR_SEED),)) -> str:
    """The gate-wide auditors entry; it goes before `lanes:` so lanes can be appended."""
    listed = "".join(
        f'  - id: "{aid}"\n    public_key: "{public_b64(seed)}"\n' for aid, seed in auditors
    )
    return "auditors:\n" + listed


QUORUM_LANE = "exec-board-review"  # two of three owners must approve (approvals_required: 2)
THREE_OWNERS = (*OWNERS, (THIRD_OWNER, THIRD_SEED))


def quorum_governance_yaml() -> str:
    """governance_yaml() and QUORUM_LANE, owned by OWNER, SECOND_OWNER and THIRD_OWNER."""
    return governance_yaml() + lane_yaml(QUORUM_LANE, owners=THREE_OWNERS, quorum=2)


def governance_yaml(fast_pending: str = "PT4S") -> str:
    """The gate-wide AUDITOR, then LANE and FAST_LANE, both owned by OWNER and SECOND_OWNER;
    append lane_yaml() for more lanes."""
    return (
        auditors_yaml() + "lanes:\n" + lane_yaml(LANE) + lane_yaml(FAST_LANE, pending=fast_pending)
    )


# Input payloads.


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


OPTIONS = (
    {
        "option_id": "capped-credit-and-recovery-engineering",
        "summary": "capped credit",
        "credit_cap": {"amount": "250000.00", "currency": "USD"},
    },
    {
        "option_id": "credit-only-documented-impact",
        "summary": "credit only",
        "credit_cap": {"amount": "90000.00", "currency": "USD"},
    },
    {"option_id": "escalate-cro-legal-review", "summary": "escalate", "credit_cap": None},
)
BLOCKED_REQUESTS = (
    {"term_id": "multi-quarter-fee-holiday", "description": "fee holiday", "reason": "open-ended"},
    {"term_id": "contract-rewrite", "description": "rewrite MSA", "reason": "legal"},
    {"term_id": "permanent-staffing-overlay", "description": "staffing", "reason": "open-ended"},
)


def packet(
    packet_id: str,
    revision: int,
    lane: str = LANE,
    impact: tuple[str, str] = ("INC-8812", "7"),
    evidence: list[dict[str, str]] | None = None,
    body: Mapping[str, Any] | None = None,
    prepared_by: str = PREPARER,
) -> dict[str, Any]:
    """A packet-ready payload with both hashes computed; cites `impact` and a contract
    unless `evidence` says otherwise."""
    options = copy.deepcopy(list(OPTIONS))
    data: dict[str, Any] = {
        "packet_id": packet_id,
        "revision": revision,
        "lane_id": lane,
        "prepared_by": prepared_by,
        "title": f"Outage recovery package r{revision}",
        "options": options,
        "blocked_requests": copy.deepcopy(list(BLOCKED_REQUESTS)),
        "evidence_refs": evidence
        if evidence is not None
        else [
            {"kind": "incident-impact", "ref": impact[0], "version": impact[1]},
            {"kind": "contract", "ref": "MSA-NW-2023", "version": "3"},
        ],
        "body": dict(body or {"customer": "Northwind", "draft": revision}),
    }
    data["option_set_hash"] = option_set_hash(options)
    data["packet_hash"] = packet_hash(data)
    return data


def rehash(data: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A packet-ready payload with `changes` applied and both hashes recomputed."""
    changed: dict[str, Any] = {**data, **changes}
    changed["option_set_hash"] = option_set_hash(changed["options"])
    changed["packet_hash"] = packet_hash(changed)
    return changed


def approval(
    pkt: Mapping[str, Any],
    decision: str = "approve",
    approver: str = OWNER,
    seed: bytes = OWNER_SEED,
    audience: list[str] | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    decision_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """An approval-decision on `pkt`, signed with `seed` after `overrides` are applied.

    An approve carries AUDIENCE and a window (from 5 s ago for 3 days unless told); any
    other decision carries a reason instead."""
    start = valid_from or now() - timedelta(seconds=5)
    data: dict[str, Any] = {
        "decision_id": decision_id or new_id("AD"),
        "packet_id": pkt["packet_id"],
        "revision": pkt["revision"],
        "decision": decision,
        "approver": approver,
        "lane_id": pkt["lane_id"],
        "packet_hash": pkt["packet_hash"],
        "option_set_hash": pkt["option_set_hash"],
    }
    if decision == "approve":
        data["audience"] = AUDIENCE if audience is None else audience
        data["valid_from"] = format_time(start)
        data["valid_until"] = format_time(valid_until or start + timedelta(days=3))
    else:
        data["reason"] = "not bounded enough"
    data.update(overrides)
    data["signature"] = sign(data, seed)
    return data


def forward(
    pkt: Mapping[str, Any],
    recipients: list[str],
    request_id: str | None = None,
    revision: int | None = None,
    manifest_id: str | None = None,
) -> dict[str, Any]:
    """A forward-request for `pkt` (any mapping with packet_id and revision)."""
    rev = pkt["revision"] if revision is None else revision
    return {
        "request_id": request_id or new_id("FR"),
        "packet_id": pkt["packet_id"],
        "revision": rev,
        "manifest_id": manifest_id or f"{pkt['packet_id']}@r{rev}",
        "requested_by": "exec:cro",
        "recipients": recipients,
        "channel": "email",
    }


def evidence_changed(kind: str, ref: str, version: str, summary: str = "changed") -> dict[str, Any]:
    return {
        "kind": kind,
        "ref": ref,
        "new_version": version,
        "summary": summary,
        "lane_id": ref if kind == "audience-scope" else None,
    }


def feedback(
    manifest_id: str,
    correction: str,
    feedback_id: str | None = None,
    note: str = "seen in review",
) -> dict[str, Any]:
    return {
        "feedback_id": feedback_id or new_id("RF"),
        "manifest_id": manifest_id,
        "reviewer": "exec:cro",
        "correction": correction,
        "note": note,
    }


# The CloudEvent around a payload.


def subject_of(type_: str, data: Mapping[str, Any]) -> str:
    """The subject the contract expects: the evidence ref, else the packet id (a feedback's
    taken from its manifest id)."""
    if type_ == "evidence-changed":
        return str(data["ref"])
    return str(data.get("packet_id", str(data.get("manifest_id", "")).split("@r")[0]))


def envelope(
    type_: str,
    data: Mapping[str, Any],
    event_id: str | None = None,
    subject: str | None = None,
    time: datetime | None = None,
    schemaversion: int | None = None,
) -> dict[str, Any]:
    """The CloudEvent a producer sends; a fresh id, the expected subject and now, unless told.
    A decision carrying `signed_at` is version 2 (docs/contract.md#version-2), all else 1."""
    if schemaversion is None:
        schemaversion = 2 if type_ == "approval-decision" and "signed_at" in data else 1
    return {
        "specversion": "1.0",
        "id": event_id or new_id("evt"),
        "source": "urn:tests",
        "type": type_,
        "subject": subject_of(type_, data) if subject is None else subject,
        "time": (time or now()).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "datacontenttype": "application/json",
        "schemaversion": schemaversion,
        "data": data,
    }


def encode(doc: Any) -> bytes:
    """JSON bytes as a producer writes them (UTF-8, non-ASCII kept)."""
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


# Release manifests and the gate's keys (TEST ONLY).


def gate_key() -> GateKey:
    """The gate key every test service runs with (GATE_KEY_FILE)."""
    return load_gate_key(GATE_KEY_FILE)


def other_gate_key() -> GateKey:
    """A gate key that is not the test service's."""
    return gate_key_from_private(Ed25519PrivateKey.from_private_bytes(STRANGER_SEED))


def manifest() -> dict[str, Any]:
    """The contract's worked release-manifest data (tests/fixtures/contract), hash included."""
    data: dict[str, Any] = load("release-manifest.data.json")["data"]
    return data


def rehash_manifest(data: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """Release-manifest data with `changes` applied and manifest_hash recomputed."""
    changed: dict[str, Any] = {**data, **changes}
    changed["manifest_hash"] = manifest_hash(changed)
    return changed


def manifest_event(data: Mapping[str, Any]) -> dict[str, Any]:
    """The release-manifest CloudEvent the gate publishes around `data` (schemaversion 2)."""
    event_id = f"{data['manifest_id']}:released"
    event = envelope("release-manifest", data, event_id=event_id, subject=str(data["packet_id"]))
    return {**event, "schemaversion": 2}


def one_byte_changed(raw: bytes, at: bytes) -> bytes:
    """`raw` with the first byte of the first occurrence of `at` raised by one."""
    where = raw.index(at)
    return raw[:where] + bytes([raw[where] + 1]) + raw[where + 1 :]
