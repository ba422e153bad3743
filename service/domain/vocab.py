"""Wire vocabulary shared by the contract and the domain: patterns, limits, closed word lists."""

from typing import Final, Literal, get_args

# Ids (packet, decision, request, option, term, lane, evidence ref/version). "@" and "/" are
# excluded because the service builds `<packet_id>@r<revision>` and `.../<seq>` from them.
ID_MAX: Final = 128
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
# Identities (`user:dana.ortiz@support`, `exec:cro`): a scheme, a colon, then no whitespace
# or control characters. Compared exactly, so nothing is trimmed or case-folded.
IDENTITY_MAX: Final = 256
IDENTITY_PATTERN: Final = r"^[a-z][a-z0-9-]{0,31}:[^\s\x00-\x1f\x7f]+$"
MANIFEST_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]*@r[1-9][0-9]{0,15}$"
HASH_PATTERN: Final = r"^sha256:[0-9a-f]{64}$"
# Lower-case words such as lifecycle reasons and channels (`email`).
WORD_PATTERN: Final = r"^[a-z][a-z0-9-]*$"

# JSON numbers are IEEE doubles for most consumers, and RFC 8785 refuses larger integers.
MAX_SAFE_INT: Final = 2**53 - 1
MAX_TEXT: Final = 2000
MAX_NOTE: Final = 4000
MAX_OPTIONS: Final = 10
MAX_BLOCKED_REQUESTS: Final = 50
MAX_EVIDENCE_REFS: Final = 100
MAX_AUDIENCE: Final = 50
MAX_RECIPIENTS: Final = 50
# A forward-request's requester and recipients are taken as sent (any text up to this long),
# so that a malformed one is blocked and audited rather than dead-lettered; outputs show
# them with control characters escaped, each cut to MAX_SHOWN characters.
MAX_AS_SENT: Final = 4096
MAX_SHOWN: Final = 512
SHOWN_PATTERN: Final = r"^[^\x00-\x1f\x7f]*$"
MAX_BODY_DEPTH: Final = 32
MAX_JSON_DEPTH: Final = 64
MAX_MESSAGE_BYTES: Final = 1_048_576

EvidenceKind = Literal[
    "incident-impact",
    "entitlement",
    "contract",
    "renewal",
    "precedent",
    "account-review",
    "audience-scope",
]
EVIDENCE_KINDS: Final[tuple[str, ...]] = get_args(EvidenceKind)
Decision = Literal["approve", "reject"]
# Version 2 of approval-decision adds revoke (an approved or released revision withdrawn).
DecisionV2 = Literal["approve", "reject", "revoke"]
Correction = Literal[
    "missing-blocked-terms", "wrong-audience", "stale-state", "manifest-mismatch", "other"
]
BlockedReason = Literal[
    "outside-audience",
    "not-released",
    "superseded",
    "expired",
    "unknown-packet",
    "revision-mismatch",
    "manifest-mismatch",
]
# Version 2 of blocked-forward adds the reason of a revoked release.
BlockedReasonV2 = BlockedReason | Literal["revoked-by-owner"]
StateName = Literal["pending", "approved", "released", "expired", "superseded", "rejected"]
