"""Strict models of every CloudEvent `data` payload in docs/contract.md (unknown fields refused)."""

from typing import Annotated, Any, Final

from pydantic import ConfigDict, StringConstraints, model_validator

from service.contract.checkpoint import AuditCheckpointData
from service.contract.fields import (
    AsSent,
    Body,
    Id,
    Identity,
    ManifestId,
    Note,
    Revision,
    Sha256,
    Text,
    Word,
)
from service.contract.outputs import (
    DeadLetterData,
    ForwardOutcomeData,
    PacketLifecycleData,
    ReleaseManifestData,
)
from service.contract.parts import (
    ApprovalAudience,
    BlockedRequest,
    BlockedRequests,
    EvidenceRef,
    EvidenceRefs,
    Money,
    Option,
    Options,
    Payload,
    Recipients,
)
from service.contract.times import UtcDateTime
from service.domain.vocab import Correction, Decision, EvidenceKind

__all__ = [
    "PAYLOAD_MODELS",
    "ApprovalDecisionData",
    "BlockedRequest",
    "DeadLetterData",
    "EvidenceChangedData",
    "EvidenceRef",
    "ForwardOutcomeData",
    "ForwardRequestData",
    "Money",
    "Option",
    "PacketLifecycleData",
    "PacketReadyData",
    "Payload",
    "ReleaseManifestData",
    "ReviewFeedbackData",
]


class PacketReadyData(Payload):
    """One immutable packet revision is ready for release review."""

    packet_id: Id
    revision: Revision
    lane_id: Id
    prepared_by: Identity
    title: Text
    options: Options
    blocked_requests: BlockedRequests
    evidence_refs: EvidenceRefs
    body: Body
    packet_hash: Sha256
    option_set_hash: Sha256


# The decision-dependent requirements, stated in the schema as well as enforced below.
_APPROVAL_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"decision": {"const": "approve"}}},
            "then": {
                "required": ["audience", "valid_from", "valid_until"],
                "properties": {
                    "audience": {"type": "array"},
                    "valid_from": {"type": "string"},
                    "valid_until": {"type": "string"},
                },
            },
        },
        {
            "if": {"properties": {"decision": {"const": "reject"}}},
            "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
        },
    ]
}


class ApprovalDecisionData(Payload):
    """The named release owner's signed decision on one revision.

    approve needs audience, valid_from and valid_until; reject needs reason. The signature
    is Ed25519 over the RFC 8785 form of this object without `signature`.
    """

    model_config = ConfigDict(json_schema_extra=_APPROVAL_RULES)

    decision_id: Id
    packet_id: Id
    revision: Revision
    decision: Decision
    approver: Identity
    lane_id: Id
    packet_hash: Sha256
    option_set_hash: Sha256
    audience: ApprovalAudience | None = None  # may be empty: see ApprovalAudience
    valid_from: UtcDateTime | None = None
    valid_until: UtcDateTime | None = None
    reason: Text | None = None
    # Any malformed signature is the approval check `bad-signature`, not invalid-data,
    # so it is counted and audited like every other forged or broken signature.
    signature: Annotated[str, StringConstraints(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def _decision_has_what_it_needs(self) -> "ApprovalDecisionData":
        if self.decision == "approve":
            needed = ("audience", "valid_from", "valid_until")
            missing = [f for f in needed if getattr(self, f) is None]
            if missing:
                raise ValueError(f"approve requires {', '.join(missing)}")
        elif not self.reason:
            raise ValueError("reject requires reason")
        return self


class EvidenceChangedData(Payload):
    """Cited evidence (or, for audience-scope, a lane's audience scope) changed."""

    kind: EvidenceKind
    ref: Id
    new_version: Id
    summary: Text | None = None
    lane_id: Id | None = None

    @model_validator(mode="after")
    def _scope_names_its_lane(self) -> "EvidenceChangedData":
        if self.kind == "audience-scope" and self.lane_id not in (None, self.ref):
            raise ValueError(f"audience-scope: lane_id {self.lane_id!r} != ref {self.ref!r}")
        return self


class ForwardRequestData(Payload):
    """Someone asks to send a released packet on."""

    request_id: Id
    packet_id: Id
    revision: Revision
    manifest_id: ManifestId
    requested_by: AsSent
    recipients: Recipients
    channel: Word


class ReviewFeedbackData(Payload):
    """An executive reviewer reports a defect in a released packet."""

    feedback_id: Id
    manifest_id: ManifestId
    reviewer: Identity
    correction: Correction
    note: Note | None = None


PAYLOAD_MODELS: Final[dict[str, type[Payload]]] = {
    "packet-ready": PacketReadyData,
    "approval-decision": ApprovalDecisionData,
    "evidence-changed": EvidenceChangedData,
    "forward-request": ForwardRequestData,
    "review-feedback": ReviewFeedbackData,
    "release-manifest": ReleaseManifestData,
    "blocked-forward": ForwardOutcomeData,
    "forward-allowed": ForwardOutcomeData,
    "packet-lifecycle": PacketLifecycleData,
    "dead-letter": DeadLetterData,
    "audit-checkpoint": AuditCheckpointData,
}
