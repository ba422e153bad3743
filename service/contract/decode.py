"""Turns one raw Kafka message value into a validated input event, or a precise BadInput."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

from pydantic import ValidationError

from service.contract.envelope import INPUT_TYPES, READ_VERSIONS, CloudEvent
from service.contract.errors import BadInput, ErrorKind, explain
from service.contract.jsonio import load_object
from service.contract.payloads import (
    ApprovalDecisionData,
    EvidenceChangedData,
    ForwardRequestData,
    PacketReadyData,
    Payload,
    ReviewFeedbackData,
)
from service.contract.version2 import payload_model
from service.domain.canonical import option_set_hash, packet_hash, parse_manifest_id
from service.domain.vocab import MAX_MESSAGE_BYTES

P = TypeVar("P", bound=Payload)
InputPayload = (
    PacketReadyData
    | ApprovalDecisionData
    | EvidenceChangedData
    | ForwardRequestData
    | ReviewFeedbackData
)


@dataclass(frozen=True)
class Inbound(Generic[P]):
    """A valid input: the envelope, the typed payload, and the data exactly as received.

    Hashes and signatures are checked over `raw_data`, never over a re-dump of `data`, so a
    number or time format the models would normalise can never change what was signed.
    """

    event: CloudEvent
    data: P
    raw_data: dict[str, Any]


def _manifest_packet(data: ReviewFeedbackData) -> str:
    parsed = parse_manifest_id(data.manifest_id)
    return "" if parsed is None else parsed[0]


# What the envelope's subject must equal, per input type (docs/contract.md: the packet id, or the
# evidence ref for evidence-changed); review-feedback names its packet only via manifest_id.
_SUBJECTS: dict[type[Payload], tuple[str, Callable[[Any], str]]] = {
    PacketReadyData: ("data.packet_id", lambda d: d.packet_id),
    ApprovalDecisionData: ("data.packet_id", lambda d: d.packet_id),
    EvidenceChangedData: ("data.ref", lambda d: d.ref),
    ForwardRequestData: ("data.packet_id", lambda d: d.packet_id),
    ReviewFeedbackData: ("the packet_id in data.manifest_id", _manifest_packet),
}


@overload
def decode(
    raw: bytes | None, expected_type: Literal["packet-ready"], max_bytes: int = ...
) -> Inbound[PacketReadyData]: ...
@overload
def decode(
    raw: bytes | None, expected_type: Literal["approval-decision"], max_bytes: int = ...
) -> Inbound[ApprovalDecisionData]: ...
@overload
def decode(
    raw: bytes | None, expected_type: Literal["evidence-changed"], max_bytes: int = ...
) -> Inbound[EvidenceChangedData]: ...
@overload
def decode(
    raw: bytes | None, expected_type: Literal["forward-request"], max_bytes: int = ...
) -> Inbound[ForwardRequestData]: ...
@overload
def decode(
    raw: bytes | None, expected_type: Literal["review-feedback"], max_bytes: int = ...
) -> Inbound[ReviewFeedbackData]: ...
@overload
def decode(
    raw: bytes | None, expected_type: str, max_bytes: int = ...
) -> Inbound[InputPayload]: ...
def decode(
    raw: bytes | None, expected_type: str, max_bytes: int = MAX_MESSAGE_BYTES
) -> Inbound[Any]:
    """Validates in the contract's order; the first failure raises BadInput with its kind."""
    if expected_type not in INPUT_TYPES:
        raise ValueError(f"{expected_type!r} is not an input type")  # a wiring bug, not input
    doc = load_object(raw, max_bytes)
    try:
        event = CloudEvent.model_validate(doc)
    except ValidationError as exc:
        raise BadInput(ErrorKind.NOT_A_CLOUDEVENT, explain(exc)) from exc
    readable = READ_VERSIONS[expected_type]
    if event.schemaversion not in readable:
        shown = " or ".join(str(v) for v in readable)
        detail = f"schemaversion {event.schemaversion}; {expected_type} is read as {shown}"
        raise BadInput(ErrorKind.UNSUPPORTED_SCHEMA_VERSION, detail)
    if event.type != expected_type:
        known = "an input type" if event.type in INPUT_TYPES else "not an input type"
        detail = f"type {event.type!r} ({known}) arrived on the {expected_type!r} topic"
        raise BadInput(ErrorKind.UNKNOWN_TYPE, detail)
    raw_data: dict[str, Any] = doc["data"]
    model = payload_model(expected_type, event.schemaversion)
    assert model is not None  # every readable version has its model
    data = _validate(model, raw_data)
    name, subject_of = next(v for k, v in _SUBJECTS.items() if isinstance(data, k))
    expected_subject = subject_of(data)
    if event.subject != expected_subject:
        detail = f"subject {event.subject!r} != {name} {expected_subject!r}"
        raise BadInput(ErrorKind.INVALID_DATA, detail)
    if isinstance(data, PacketReadyData):
        _check_hashes(raw_data)
    return Inbound(event=event, data=data, raw_data=raw_data)


def _validate(model: type[Payload], raw_data: dict[str, Any]) -> Payload:
    try:
        return model.model_validate(raw_data)
    except ValidationError as exc:
        raise BadInput(ErrorKind.INVALID_DATA, explain(exc, "data")) from exc


def _check_hashes(raw_data: dict[str, Any]) -> None:
    checks: list[tuple[str, Callable[[], str]]] = [
        ("option_set_hash", lambda: option_set_hash(raw_data["options"])),
        ("packet_hash", lambda: packet_hash(raw_data)),
    ]
    problems = []
    for key, compute in checks:
        try:
            computed = compute()
        except ValueError as exc:  # the models bound numbers, so this is a last resort
            raise BadInput(ErrorKind.INVALID_DATA, f"data: cannot canonicalize: {exc}") from exc
        if raw_data[key] != computed:
            problems.append(f"{key} {raw_data[key]} != computed {computed}")
    if problems:
        raise BadInput(ErrorKind.HASH_MISMATCH, "; ".join(problems))
