"""The CLI signs version-2 decisions: signer, signing time and meaning inside the signed bytes."""

from datetime import UTC, datetime

from service.cli.decisions import build_decision
from service.contract.version2 import ApprovalDecisionDataV2
from service.domain.signing import verify
from tests.support.builders import OWNER, OWNER_PUBLIC_KEY, OWNER_SEED, packet

AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def test_a_revocation_from_the_cli_is_a_valid_version_2_decision_whose_time_is_signed() -> None:
    pkt = packet("RP-1", 1)
    data = build_decision(pkt, "revoke", OWNER, "AD-9", OWNER_SEED, [], AT, AT, "wrong cap", AT)
    ApprovalDecisionDataV2.model_validate(data)
    assert (data["decision"], data["signed_at"], data["reason"]) == (
        "revoke",
        "2026-12-02T09:30:00Z",
        "wrong cap",
    )
    assert verify(data, OWNER_PUBLIC_KEY)
    assert not verify({**data, "signed_at": "2026-12-02T09:31:00Z"}, OWNER_PUBLIC_KEY)
    assert not verify({**data, "decision": "approve"}, OWNER_PUBLIC_KEY)


def test_an_approval_from_the_cli_carries_its_terms_and_its_signing_time() -> None:
    pkt = packet("RP-1", 1)
    data = build_decision(
        pkt, "approve", OWNER, "AD-8", OWNER_SEED, ["exec:cro"], AT, AT.replace(day=3), None, AT
    )
    ApprovalDecisionDataV2.model_validate(data)
    assert data["audience"] == ["exec:cro"] and "reason" not in data
    assert verify(data, OWNER_PUBLIC_KEY)
