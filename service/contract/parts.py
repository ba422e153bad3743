"""Shared payload building blocks: the strict base model, options, blocked terms, evidence."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.contract.fields import AsSent, Id, Identity, Text, UniqueIdentities, unique
from service.domain import vocab as v
from service.domain.vocab import EvidenceKind


class Payload(BaseModel):
    """Strict: no coercion ("3" is not 3, 1 is not true) and no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Money(Payload):
    amount: Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,17})(\.[0-9]{1,4})?$")]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class Option(Payload):
    option_id: Id
    summary: Text
    credit_cap: Money | None  # required, may be null: the key is part of the option-set hash


class BlockedRequest(Payload):
    term_id: Id
    description: Text
    reason: Text


class EvidenceRef(Payload):
    kind: EvidenceKind
    ref: Id
    version: Id


Options = Annotated[
    list[Option],
    Field(min_length=1, max_length=v.MAX_OPTIONS, description="ranked; option_id unique"),
    unique("option_id", lambda o: o.option_id),
]
BlockedRequests = Annotated[
    list[BlockedRequest],
    Field(max_length=v.MAX_BLOCKED_REQUESTS, description="term_id unique"),
    unique("term_id", lambda b: b.term_id),
]
EvidenceRefs = Annotated[
    list[EvidenceRef],
    Field(max_length=v.MAX_EVIDENCE_REFS, description="(kind, ref) unique"),
    unique("evidence (kind, ref)", lambda e: (e.kind, e.ref)),
]
_UNIQUE = {"uniqueItems": True}
Audience = Annotated[
    list[Identity],
    Field(min_length=1, max_length=v.MAX_AUDIENCE, json_schema_extra=_UNIQUE),
    UniqueIdentities,
]
# An empty approval audience decodes: docs/contract.md makes it the approval check
# audience-out-of-scope, a counted and audited refusal, rather than a dead letter.
ApprovalAudience = Annotated[
    list[Identity], Field(max_length=v.MAX_AUDIENCE, json_schema_extra=_UNIQUE), UniqueIdentities
]
# As sent, unbounded but by the message size: the gate blocks and audits whatever it gets
# (docs/contract.md, forward-request); only the packet it names must be well-formed.
Recipients = Annotated[list[AsSent], Field(description="recipients as sent, any text")]
