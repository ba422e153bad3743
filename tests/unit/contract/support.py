"""Changes to the contract's example events, for the decode tests.

Fixture access and every payload builder live in tests/support/builders.py; this module
only mutates the examples (a dotted path set or dropped, hashes recomputed), names the
example events of the three input types that have no fixture file, and nests values.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.support import builders
from tests.support.builders import encode, envelope, event, rehash

EXAMPLE_TIME = datetime(2026, 11, 27, 18, 10, tzinfo=UTC)


def evidence_changed() -> dict[str, Any]:
    """The example evidence-changed event: the incident impact of the example packet, v8."""
    data = builders.evidence_changed("incident-impact", "INC-8812", "8", "impact estimate hardened")
    return envelope("evidence-changed", data, "evt-evidence-changed-1", time=EXAMPLE_TIME)


def forward_request() -> dict[str, Any]:
    """The example forward-request: the example packet's r3, to the general counsel."""
    example = {"packet_id": "RP-2026-0042", "revision": 3}
    data = builders.forward(example, ["exec:general-counsel"], request_id="FR-102")
    return envelope("forward-request", data, "evt-forward-request-1", time=EXAMPLE_TIME)


def review_feedback() -> dict[str, Any]:
    """The example review-feedback: r3's manifest is missing a blocked term."""
    data = builders.feedback(
        "RP-2026-0042@r3", "missing-blocked-terms", "RF-9", "the fee holiday term is missing"
    )
    return envelope("review-feedback", data, "evt-review-feedback-1", time=EXAMPLE_TIME)


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
    if rehashed:
        doc["data"] = rehash(doc["data"])
    return encode(doc)


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
