"""The audit-checkpoint payload: a DSSE envelope signed by the gate and the leaves it covers
(docs/security.md, "Audit checkpoints"; built by service/gate/checkpoints.py)."""

from typing import Annotated, Literal

from pydantic import Field, Strict, StringConstraints

from service.contract.fields import Sha256
from service.contract.parts import Payload
from service.domain.checkpoint import MAX_LEAVES

# A fact id as service/domain/facts.py:fact_id builds it: <packet_id>@r<revision>/<seq>.
FactId = Annotated[
    str,
    StringConstraints(
        max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*@r[1-9][0-9]*/[1-9][0-9]*$"
    ),
]
_PAIR = "[fact_id, fact_hash]"
Base64 = Annotated[str, StringConstraints(min_length=1, pattern=r"^[A-Za-z0-9+/]*={0,2}$")]


class CheckpointSignature(Payload):
    keyid: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    sig: Base64


class CheckpointEnvelope(Payload):
    """DSSE v1: the payload (base64 of the RFC 8785 checkpoint JSON) and its signatures."""

    payload: Base64
    # service/domain/checkpoint.py:PAYLOAD_TYPE (a unit test holds them equal)
    payloadType: Literal["application/vnd.release-gate.checkpoint+json"]  # the DSSE field name
    signatures: Annotated[list[CheckpointSignature], Field(min_length=1, max_length=8)]


class AuditCheckpointData(Payload):
    """Checkpoint n of one gate process's chain and, in order, the (fact id, fact hash)
    leaves its Merkle root covers."""

    checkpoint: CheckpointEnvelope
    leaves: Annotated[
        # Lax for the pair only: a JSON array read into Python is a list, not a tuple.
        list[Annotated[tuple[FactId, Sha256], Strict(False), Field(description=_PAIR)]],
        Field(min_length=1, max_length=MAX_LEAVES),
    ]
