"""Models of the payloads the service emits: manifest, forward outcome, lifecycle, dead letter."""

from typing import Annotated

from pydantic import Field, StringConstraints

from service.contract.errors import ErrorKind
from service.contract.fields import (
    Count,
    Detail,
    Id,
    Identity,
    ManifestId,
    Revision,
    Sha256,
    Shown,
    Word,
)
from service.contract.parts import Audience, BlockedRequests, EvidenceRefs, Options, Payload
from service.contract.times import UtcDateTime
from service.domain import vocab as v
from service.domain.vocab import BlockedReason, StateName


class ReleaseManifestData(Payload):
    """The governed artifact downstream routing delivers."""

    manifest_id: ManifestId
    packet_id: Id
    revision: Revision
    packet_hash: Sha256
    option_set_hash: Sha256
    lane_id: Id
    audience: Audience
    approver: Identity
    decision_id: Id
    approved_at: UtcDateTime
    released_at: UtcDateTime
    valid_from: UtcDateTime
    valid_until: UtcDateTime
    options: Options
    blocked_requests: BlockedRequests
    evidence_refs: EvidenceRefs
    supersedes: list[Revision]
    manifest_hash: Sha256


class ForwardOutcomeData(Payload):
    """blocked-forward (reason set) and forward-allowed (reason null, nothing blocked)."""

    request_id: Id
    packet_id: Id
    revision: Revision
    manifest_id: ManifestId
    requested_by: Shown
    recipients: Annotated[list[Shown], Field(max_length=v.MAX_RECIPIENTS)]
    blocked_recipients: Annotated[list[Shown], Field(max_length=v.MAX_RECIPIENTS)]
    reason: BlockedReason | None
    detail: Detail


class PacketLifecycleData(Payload):
    """A state change of a revision, or a refusal (from_state == to_state)."""

    packet_id: Id
    revision: Revision
    from_state: StateName | None
    to_state: StateName | None
    reason: Word
    detail: Detail
    cause_event_id: Annotated[str, StringConstraints(max_length=1024)] | None
    superseded_by: Revision | None
    at: UtcDateTime


class DeadLetterData(Payload):
    """An input that could never be processed, with its original bytes and the reason."""

    source_topic: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
    partition: Count
    offset: Count
    key: str | None
    raw_value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$")]
    error_kind: Annotated[ErrorKind, Field(strict=False)]
    error_detail: Detail
    received_at: UtcDateTime
