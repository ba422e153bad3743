"""decode() refuses data that breaks the payload rules or whose hashes do not recompute."""

import pytest

from service.contract.decode import decode
from service.contract.errors import BadInput, ErrorKind
from tests.support.builders import encode, envelope, event
from tests.unit.contract import test_decode_rejects_bad_messages as bad_messages
from tests.unit.contract.support import (
    approval,
    evidence_changed,
    nested,
    packet,
    put,
    review_feedback,
)

K = ErrorKind
OPTION = event("packet-ready.json")["data"]["options"][0]
ELEVEN = [{**OPTION, "option_id": f"opt-{i}"} for i in range(11)]
FIRST_OPTION = "capped-credit-and-recovery-engineering"
FEEDBACK = {"feedback_id": "RF-1", "manifest_id": "RP-1@r1", "reviewer": "exec:cro"}

# (case, raw, topic, kind, a piece of the detail)
# fmt: off
CASES: list[tuple[str, bytes, str, ErrorKind, str]] = [
    ("an unknown field", packet(put("data.surprise", 1)), "packet-ready",
     K.INVALID_DATA, "data.surprise: unknown field"),
    ("a missing field", packet(lambda d: d["data"].pop("title")), "packet-ready",
     K.INVALID_DATA, "data.title: required field missing"),
    ("revision as a string", packet(put("data.revision", "3")), "packet-ready",
     K.INVALID_DATA, "data.revision: Input should be a valid integer (got a string of 1 "),
    ("revision as a boolean", packet(put("data.revision", True)), "packet-ready",
     K.INVALID_DATA, "data.revision: Input should be a valid integer (got True)"),
    ("revision zero", packet(put("data.revision", 0)), "packet-ready",
     K.INVALID_DATA, "data.revision: Input should be greater than or equal to 1"),
    ("11 options", packet(put("data.options", ELEVEN)), "packet-ready",
     K.INVALID_DATA, "data.options: list has 11 items, at most 10"),
    ("no options", packet(put("data.options", [])), "packet-ready",
     K.INVALID_DATA, "data.options: list has 0 items, at least 1"),
    ("a duplicate option id", packet(put("data.options.1.option_id", FIRST_OPTION)),
     "packet-ready", K.INVALID_DATA, f"data.options: duplicate option_id '{FIRST_OPTION}'"),
    ("an unknown evidence kind", packet(put("data.evidence_refs.0.kind", "gossip")),
     "packet-ready", K.INVALID_DATA, "data.evidence_refs[0].kind: Input should be"),
    ("a bad money amount", packet(put("data.options.0.credit_cap.amount", "1e5")),
     "packet-ready", K.INVALID_DATA, "data.options[0].credit_cap.amount"),
    ("a bad hash format", packet(put("data.packet_hash", "sha256:ABC"), rehashed=False),
     "packet-ready", K.INVALID_DATA, "data.packet_hash: String should match pattern"),
    ("a packet id with a newline", packet(put("data.packet_id", "RP-1\n")), "packet-ready",
     K.INVALID_DATA, "data.packet_id: String should match pattern"),
    ("a body nested 33 deep", packet(put("data.body", nested(33))), "packet-ready",
     K.INVALID_DATA, "data.body: nesting deeper than 32"),
    ("a body integer beyond 2**53", packet(put("data.body.n", 2**60), rehashed=False),
     "packet-ready", K.INVALID_DATA, "data.body: integer at body.n is outside"),
    ("a subject that is not the packet", packet(put("subject", "RP-9")), "packet-ready",
     K.INVALID_DATA, "subject 'RP-9' != data.packet_id 'RP-2026-0042'"),
    ("a tampered option", packet(put("data.options.0.summary", "uncapped"), rehashed=False),
     "packet-ready", K.HASH_MISMATCH, "option_set_hash sha256:ad2d7687db9bf732"),
    ("a tampered body", packet(put("data.body.affected_users", 1), rehashed=False),
     "packet-ready", K.HASH_MISMATCH, "packet_hash sha256:7a07fe20eb59fa96"),
    ("an approve without audience", approval(lambda d: d.pop("audience")),
     "approval-decision", K.INVALID_DATA, "data: approve requires audience"),
    ("a duplicate in the audience", approval(put("audience", ["exec:cro", "exec:cro"])),
     "approval-decision", K.INVALID_DATA, "data.audience: duplicate identity 'exec:cro'"),
    ("a reject without reason", approval(put("decision", "reject")), "approval-decision",
     K.INVALID_DATA, "data: reject requires reason"),
    ("an approver with a space", approval(put("approver", "user:dana ortiz")),
     "approval-decision", K.INVALID_DATA, "data.approver: String should match pattern"),
    ("a naive valid_from", approval(put("valid_from", "2026-11-27T18:05:00")),
     "approval-decision", K.INVALID_DATA, "data.valid_from: '2026-11-27T18:05:00' is not"),
    ("an evidence subject that is not the ref", encode({**evidence_changed(), "subject": "I"}),
     "evidence-changed", K.INVALID_DATA, "subject 'I' != data.ref 'INC-8812'"),
    ("a feedback subject that is not its packet", encode({**review_feedback(), "subject": "R"}),
     "review-feedback", K.INVALID_DATA, "!= the packet_id in data.manifest_id 'RP-2026-0042'"),
    ("an unknown correction",
     encode(envelope("review-feedback", {**FEEDBACK, "correction": "typo"}, subject="RP-1")),
     "review-feedback", K.INVALID_DATA, "data.correction: Input should be"),
]
# fmt: on


@pytest.mark.parametrize(
    ("raw", "topic", "kind", "detail"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_data_raises_its_kind_with_a_specific_detail(
    raw: bytes, topic: str, kind: ErrorKind, detail: str
) -> None:
    with pytest.raises(BadInput) as caught:
        decode(raw, topic)
    assert caught.value.kind is kind
    assert detail in caught.value.detail


def test_every_error_kind_decode_can_raise_has_a_case() -> None:
    decided_by_the_handlers = {
        K.REVISION_CONFLICT,
        K.UNKNOWN_MANIFEST,
        K.PROCESSING_ERROR,
        K.EARLY_EVENT_LIMIT,
    }
    covered = {c[3] for c in CASES} | {c[2] for c in bad_messages.CASES}
    assert covered == set(ErrorKind) - decided_by_the_handlers


def test_both_hashes_are_reported_when_both_are_wrong() -> None:
    with pytest.raises(BadInput) as caught:
        decode(packet(put("data.options.0.summary", "x"), rehashed=False), "packet-ready")
    assert "option_set_hash" in caught.value.detail and "packet_hash" in caught.value.detail


def test_a_long_error_list_is_shortened_with_a_count() -> None:
    wreck = put("data", {f"extra{i}": i for i in range(8)})
    with pytest.raises(BadInput) as caught:
        decode(packet(wreck, rehashed=False), "packet-ready")
    assert caught.value.detail.endswith("more)")


def test_a_hostile_key_cannot_make_the_detail_unbounded() -> None:
    with pytest.raises(BadInput) as caught:
        decode(packet(put("data.body", {"k" * 100_000: nested(33)})), "packet-ready")
    assert len(caught.value.detail) <= 1000
