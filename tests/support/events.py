"""Builders for input events: packets with real hashes, approvals signed with test keys."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.domain.canonical import option_set_hash, packet_hash
from service.domain.signing import sign
from service.domain.times import format_time

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_VECTORS = json.loads((FIXTURES / "contract" / "vectors.json").read_text())
OWNER = "user:dana.ortiz@support"
OWNER_SEED = base64.b64decode(_VECTORS["owner_private_key_seed_b64_TEST_ONLY"])
SECOND_OWNER = "user:sam.reyes@support"
SECOND_SEED = bytes(range(32))
STRANGER_SEED = bytes(range(1, 33))
PREPARER = "user:lee.park@support"
LANE = "exec-customer-review"
FAST_LANE = "exec-fast-review"  # max_pending of a few seconds, for approval timeouts
AUDIENCE = ["exec:cro", "exec:general-counsel"]


def public_b64(seed: bytes) -> str:
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return base64.b64encode(raw).decode()


def governance_yaml(fast_pending: str = "PT4S") -> str:
    owners = "".join(
        f'      - id: "{oid}"\n        public_key: "{public_b64(seed)}"\n'
        for oid, seed in ((OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED))
    )
    lane = (
        "  - lane_id: {lane}\n"
        "    name: {lane}\n"
        "    authorized_recipients: [exec:cro, exec:general-counsel, exec:vp-support,"
        " exec:strategic-account-exec]\n"
        "    max_validity: P7D\n"
        "    max_pending: {pending}\n"
        "    required_evidence: [incident-impact, contract]\n"
        "    release_owners:\n" + owners
    )
    return (
        "lanes:\n"
        + lane.format(lane=LANE, pending="P14D")
        + lane.format(lane=FAST_LANE, pending=fast_pending)
    )


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def packet(
    packet_id: str,
    revision: int,
    lane: str = LANE,
    impact: tuple[str, str] = ("INC-8812", "7"),
    evidence: list[dict[str, str]] | None = None,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    options = [
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
    ]
    data: dict[str, Any] = {
        "packet_id": packet_id,
        "revision": revision,
        "lane_id": lane,
        "prepared_by": PREPARER,
        "title": f"Outage recovery package r{revision}",
        "options": options,
        "blocked_requests": [
            {
                "term_id": "multi-quarter-fee-holiday",
                "description": "fee holiday",
                "reason": "open-ended",
            },
            {"term_id": "contract-rewrite", "description": "rewrite MSA", "reason": "legal"},
            {
                "term_id": "permanent-staffing-overlay",
                "description": "staffing",
                "reason": "open-ended",
            },
        ],
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


def evidence_changed(kind: str, ref: str, version: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "ref": ref,
        "new_version": version,
        "summary": "changed",
        "lane_id": ref if kind == "audience-scope" else None,
    }


def feedback(manifest_id: str, correction: str, feedback_id: str | None = None) -> dict[str, Any]:
    return {
        "feedback_id": feedback_id or new_id("RF"),
        "manifest_id": manifest_id,
        "reviewer": "exec:cro",
        "correction": correction,
        "note": "seen in review",
    }


def rehash(data: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A packet-ready payload with `changes` applied and both hashes recomputed."""
    changed: dict[str, Any] = {**data, **changes}
    changed["option_set_hash"] = option_set_hash(changed["options"])
    changed["packet_hash"] = packet_hash(changed)
    return changed


RECIPIENTS = ("exec:cro", "exec:general-counsel", "exec:vp-support", "exec:strategic-account-exec")


def lane_yaml(
    lane_id: str,
    pending: str = "P14D",
    owners: tuple[tuple[str, bytes], ...] = ((OWNER, OWNER_SEED), (SECOND_OWNER, SECOND_SEED)),
    recipients: tuple[str, ...] = RECIPIENTS,
) -> str:
    """One more lane entry to append to governance_yaml() (same recipients and evidence)."""
    listed = "".join(
        f'      - id: "{oid}"\n        public_key: "{public_b64(seed)}"\n' for oid, seed in owners
    )
    return (
        f"  - lane_id: {lane_id}\n"
        f"    name: {lane_id}\n"
        f"    authorized_recipients: [{', '.join(recipients)}]\n"
        "    max_validity: P7D\n"
        f"    max_pending: {pending}\n"
        "    required_evidence: [incident-impact, contract]\n"
        "    release_owners:\n" + listed
    )
