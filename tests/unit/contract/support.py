"""Fixture access and message builders for the contract tests (copies of the shared examples)."""

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.domain.canonical import option_set_hash, packet_hash

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "contract"
REPO = Path(__file__).resolve().parents[3]


def text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def load(name: str) -> Any:
    return json.loads(text(name))


def vectors() -> dict[str, str]:
    result: dict[str, str] = load("vectors.json")
    return result


def owner_public_key() -> bytes:
    return base64.b64decode(vectors()["owner_public_key_b64"])


def owner_seed() -> bytes:
    return base64.b64decode(vectors()["owner_private_key_seed_b64_TEST_ONLY"])


def event(name: str) -> dict[str, Any]:
    """A fresh deep copy of an example CloudEvent, safe to mutate."""
    return copy.deepcopy(load(name))


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def rehash(doc: dict[str, Any]) -> dict[str, Any]:
    """Recomputes a packet-ready event's hashes after a deliberate change to its data."""
    data = doc["data"]
    data["option_set_hash"] = option_set_hash(data["options"])
    data["packet_hash"] = packet_hash(data)
    return doc


def envelope(type_: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"evt-{type_}-1",
        "source": "urn:test",
        "type": type_,
        "subject": subject,
        "time": "2026-11-27T18:10:00Z",
        "datacontenttype": "application/json",
        "schemaversion": 1,
        "data": data,
    }


def evidence_changed() -> dict[str, Any]:
    data = {
        "kind": "incident-impact",
        "ref": "INC-8812",
        "new_version": "8",
        "summary": "impact estimate hardened",
        "lane_id": None,
    }
    return envelope("evidence-changed", "INC-8812", data)


def forward_request() -> dict[str, Any]:
    data = {
        "request_id": "FR-102",
        "packet_id": "RP-2026-0042",
        "revision": 3,
        "manifest_id": "RP-2026-0042@r3",
        "requested_by": "exec:cro",
        "recipients": ["exec:general-counsel"],
        "channel": "email",
    }
    return envelope("forward-request", "RP-2026-0042", data)


def review_feedback() -> dict[str, Any]:
    data = {
        "feedback_id": "RF-9",
        "manifest_id": "RP-2026-0042@r3",
        "reviewer": "exec:cro",
        "correction": "missing-blocked-terms",
        "note": "the fee holiday term is missing",
    }
    return envelope("review-feedback", "RP-2026-0042", data)


Change = Callable[[dict[str, Any]], Any]


def put(path: str, value: Any) -> Change:
    """Sets a dotted path (list indexes as numbers) in a document."""
    *parents, last = path.split(".")

    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = value

    return change


def drop(key: str) -> Change:
    return lambda doc: doc.pop(key)


def packet(change: Change, rehashed: bool = True) -> bytes:
    """The example packet-ready, changed, with its hashes recomputed unless told not to."""
    doc = event("packet-ready.json")
    change(doc)
    return encode(rehash(doc) if rehashed else doc)


def approval(change: Change) -> bytes:
    """The example approval-decision with a change to its data."""
    doc = event("approval-decision.json")
    change(doc["data"])
    return encode(doc)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value
