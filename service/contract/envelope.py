"""The CloudEvents 1.0 envelope (JSON structured mode) every message in and out is wrapped in."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from service.contract.times import UtcDateTime
from service.domain.facts import Outgoing
from service.domain.times import format_time

INPUT_TYPES: Final[tuple[str, ...]] = (
    "packet-ready",
    "approval-decision",
    "evidence-changed",
    "forward-request",
    "review-feedback",
)
OUTPUT_TYPES: Final[tuple[str, ...]] = (
    "release-manifest",
    "blocked-forward",
    "forward-allowed",
    "packet-lifecycle",
    "dead-letter",
    "audit-checkpoint",
)
EVENT_TYPES: Final[tuple[str, ...]] = INPUT_TYPES + OUTPUT_TYPES
SCHEMA_VERSION: Final = 1  # what every event is unless version 2 changed its meaning
# The versions of each input type the gate reads (version 1 is still accepted).
READ_VERSIONS: Final[dict[str, tuple[int, ...]]] = {
    "packet-ready": (1,),
    "approval-decision": (1, 2),
    "evidence-changed": (1,),
    "forward-request": (1,),
    "review-feedback": (1,),
}
DEFAULT_SOURCE: Final = "urn:release-gate"

# Envelope attributes are free text for other producers; only bound them and forbid
# whitespace and control characters, which no id, URI or subject needs.
_Attr = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\s\x00-\x1f\x7f]+$")
]


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event with the contract's `schemaversion` extension; extras ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    specversion: Literal["1.0"]
    id: _Attr
    source: _Attr
    type: _Attr
    subject: _Attr
    time: UtcDateTime
    datacontenttype: Literal["application/json"] = "application/json"
    schemaversion: int
    data: dict[str, Any]


def make_event(
    type_: str,
    id_: str,
    subject: str,
    time: datetime,
    data: dict[str, Any],
    source: str = DEFAULT_SOURCE,
    schemaversion: int = SCHEMA_VERSION,
) -> dict[str, Any]:
    """A JSON-ready outbound CloudEvent; `data` must already be JSON-ready (times formatted)."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    return {
        "specversion": "1.0",
        "id": id_,
        "source": source,
        "type": type_,
        "subject": subject,
        "time": format_time(time),
        "datacontenttype": "application/json",
        "schemaversion": schemaversion,
        "data": data,
    }


def output_version(type_: str, data: Mapping[str, Any]) -> int:
    """Version 2 exactly where a version-1 reader would misread the event: every manifest
    (approvals, attestation), a lifecycle event carrying `approvals` (a counted approval
    leaves the state as it was, which version 1 means as a refusal; a revocation is a move
    version 1 does not have), a forward blocked because of a revocation."""
    if type_ == "release-manifest":
        return 2
    if type_ == "packet-lifecycle" and "approvals" in data:
        return 2
    if type_ == "blocked-forward" and data.get("reason") == "revoked-by-owner":
        return 2
    return SCHEMA_VERSION


def envelope_of(out: Outgoing, source: str = DEFAULT_SOURCE) -> dict[str, Any]:
    """The CloudEvent for an event the domain decided to publish (its time already RFC 3339)."""
    if out.topic not in OUTPUT_TYPES:
        raise ValueError(f"unknown output type {out.topic!r}")
    return {
        "specversion": "1.0",
        "id": out.id,
        "source": source,
        "type": out.topic,
        "subject": out.subject,
        "time": out.at,
        "datacontenttype": "application/json",
        "schemaversion": output_version(out.topic, out.data),
        "data": dict(out.data),
    }
