"""Schema version 2 (docs/contract.md#version-2): quorum approvals, revocation, the signed
meaning of a decision and release attestations. Only events a version-1 reader would
misread carry version 2; everything else stays version 1 (service/contract/envelope.py)."""

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from service.contract.fields import Count, Id, Identity
from service.contract.outputs import ForwardOutcomeData, PacketLifecycleData, ReleaseManifestData
from service.contract.parts import Payload
from service.contract.payloads import PAYLOAD_MODELS, ApprovalDecisionData
from service.contract.times import UtcDateTime
from service.domain.vocab import BlockedReasonV2, DecisionV2

_Signature = Annotated[str, StringConstraints(min_length=1, max_length=256)]
_Base64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$")]

_APPROVAL_RULES_V2: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"decision": {"const": "approve"}}},
            "then": {"required": ["audience", "valid_from", "valid_until"]},
        },
        {
            "if": {"properties": {"decision": {"enum": ["reject", "revoke"]}}},
            "then": {"required": ["reason"]},
        },
    ]
}


class ApprovalDecisionDataV2(ApprovalDecisionData):
    """Version 2: `revoke` withdraws an approved or released revision (with a reason), and
    `signed_at`, the signer's own time of signing, is inside the signed bytes."""

    model_config = ConfigDict(json_schema_extra=_APPROVAL_RULES_V2)

    decision: DecisionV2  # type: ignore[assignment]
    signed_at: UtcDateTime

    @model_validator(mode="after")
    def _revoke_has_a_reason(self) -> "ApprovalDecisionDataV2":
        if self.decision == "revoke" and not self.reason:
            raise ValueError("revoke requires reason")
        return self


class ApprovalListed(Payload):
    """One counted approval of the quorum a manifest was released under."""

    decision_id: Id
    approver: Identity
    signed_at: UtcDateTime | None  # null for a version-1 decision, which had no signing time
    meaning: Annotated[str, StringConstraints(pattern=r"^approve$")]
    signature: _Signature


class DsseSignature(Payload):
    keyid: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    sig: _Base64


class DsseEnvelope(Payload):
    """A DSSE envelope (in-toto Statement v1 inside), as securesystemslib writes it."""

    payload: _Base64
    payloadType: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    signatures: Annotated[list[DsseSignature], Field(min_length=1, max_length=8)]


class ReleaseManifestDataV2(ReleaseManifestData):
    """Version 2 adds the quorum (every approver) and the gate's signed attestation.
    `manifest_hash` covers everything but itself and `attestation`."""

    approvals_required: Annotated[int, Field(ge=1, le=64)]
    approvals: Annotated[list[ApprovalListed], Field(min_length=1, max_length=64)]
    attestation: DsseEnvelope


class ApprovalProgress(Payload):
    counted: Count
    required: Count


class PacketLifecycleDataV2(PacketLifecycleData):
    """Version 2 adds `approvals` (the quorum's progress on `approval-counted`, where the
    state stays `pending`; null otherwise) and the reason `revoked-by-owner`."""

    approvals: ApprovalProgress | None


class ForwardOutcomeDataV2(ForwardOutcomeData):
    """Version 2 adds the blocked reason `revoked-by-owner`."""

    reason: BlockedReasonV2 | None  # type: ignore[assignment]


__all__ = [
    "IN_USE",
    "MODELS",
    "ApprovalDecisionDataV2",
    "ForwardOutcomeDataV2",
    "PacketLifecycleDataV2",
    "ReleaseManifestDataV2",
    "payload_model",
]


# Every (type, schemaversion) with its model; the gate reads and writes only these.
MODELS: dict[tuple[str, int], type[Payload]] = {
    **{(type_, 1): model for type_, model in PAYLOAD_MODELS.items()},
    ("approval-decision", 2): ApprovalDecisionDataV2,
    ("release-manifest", 2): ReleaseManifestDataV2,
    ("packet-lifecycle", 2): PacketLifecycleDataV2,
    ("blocked-forward", 2): ForwardOutcomeDataV2,
}


def payload_model(type_: str, version: int) -> type[Payload] | None:
    return MODELS.get((type_, version))


# The versions of each type in use now: read (inputs) or written (outputs). A manifest is
# always version 2; the other outputs are version 2 only where version 1 would mislead.
IN_USE: dict[str, tuple[int, ...]] = {
    type_: (1,) for type_ in PAYLOAD_MODELS if type_ != "release-manifest"
} | {
    "approval-decision": (1, 2),
    "release-manifest": (2,),
    "packet-lifecycle": (1, 2),
    "blocked-forward": (1, 2),
}
