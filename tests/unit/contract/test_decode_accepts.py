"""decode() accepts every valid input type and keeps the data exactly as it was received."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from service.contract.decode import Inbound, decode
from service.contract.payloads import (
    ApprovalDecisionData,
    EvidenceChangedData,
    ForwardRequestData,
    PacketReadyData,
    Payload,
    ReviewFeedbackData,
)
from service.domain.signing import verify
from tests.support.builders import OWNER_PUBLIC_KEY, encode, event, rehash, text
from tests.unit.contract.support import evidence_changed, forward_request, review_feedback


def test_decoding_the_example_packet_ready_succeeds() -> None:
    inbound = decode(text("packet-ready.json").encode(), "packet-ready")
    assert isinstance(inbound.data, PacketReadyData)
    assert inbound.event.id == "evt-ready-0042-3"
    assert inbound.event.time == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert inbound.data.revision == 3
    assert inbound.data.options[2].credit_cap is None
    assert inbound.raw_data == json.loads(text("packet-ready.json"))["data"]


def test_decoding_the_example_approval_keeps_a_verifiable_raw_data() -> None:
    inbound = decode(text("approval-decision.json").encode(), "approval-decision")
    assert isinstance(inbound.data, ApprovalDecisionData)
    assert inbound.data.audience == ["exec:cro", "exec:general-counsel"]
    assert verify(inbound.raw_data, OWNER_PUBLIC_KEY)


@pytest.mark.parametrize("name", ["packet-ready.json", "approval-decision.json"])
def test_a_decoded_payload_dumps_back_to_the_json_it_came_from(name: str) -> None:
    inbound = decode(text(name).encode(), event(name)["type"])
    dumped = inbound.data.model_dump(mode="json", exclude_unset=True)
    assert dumped == inbound.raw_data


@pytest.mark.parametrize(
    ("doc", "model"),
    [
        (evidence_changed(), EvidenceChangedData),
        (forward_request(), ForwardRequestData),
        (review_feedback(), ReviewFeedbackData),
    ],
)
def test_each_other_input_type_decodes(doc: dict[str, Any], model: type[Payload]) -> None:
    inbound: Inbound[Any] = decode(encode(doc), doc["type"])
    assert isinstance(inbound.data, model)
    assert inbound.data.model_dump(mode="json", exclude_unset=True) == doc["data"]


def test_a_reject_needs_a_reason_but_no_audience_or_window() -> None:
    doc = event("approval-decision.json")
    for key in ("audience", "valid_from", "valid_until"):
        del doc["data"][key]
    doc["data"].update(decision="reject", reason="options are not bounded")
    assert decode(encode(doc), "approval-decision").data.decision == "reject"


def test_an_approve_with_an_empty_audience_decodes_for_decide_to_refuse() -> None:
    # docs/contract.md: an empty audience is the approval check audience-out-of-scope.
    doc = event("approval-decision.json")
    doc["data"]["audience"] = []
    assert decode(encode(doc), "approval-decision").data.audience == []


def test_unknown_envelope_attributes_are_ignored() -> None:
    doc = event("packet-ready.json")
    doc["traceparent"] = "00-abc-def-01"
    doc["partitionkey"] = {"nested": True}
    assert decode(encode(doc), "packet-ready").data.packet_id == "RP-2026-0042"


def test_offset_times_are_read_as_the_same_instant_in_utc() -> None:
    doc = event("approval-decision.json")
    doc["data"]["valid_from"] = "2026-11-27T20:05:00+02:00"
    doc["data"]["valid_until"] = "2026-11-30t18:05:00.250z"
    data = decode(encode(doc), "approval-decision").data
    assert data.valid_from == datetime(2026, 11, 27, 18, 5, tzinfo=UTC)
    assert data.valid_until == datetime(2026, 11, 30, 18, 5, 0, 250000, tzinfo=UTC)
    assert data.model_dump(mode="json")["valid_from"] == "2026-11-27T18:05:00Z"


def test_hashes_are_checked_over_the_raw_data_so_number_forms_do_not_matter() -> None:
    raw = text("packet-ready.json").replace('"affected_users": 41250', '"affected_users": 41250.0')
    assert "41250.0" in raw
    # 41250.0 and 41250 have the same RFC 8785 form, so the published hashes still hold.
    assert decode(raw.encode(), "packet-ready").raw_data["body"]["affected_users"] == 41250.0


def test_a_byte_order_mark_free_utf8_packet_with_non_ascii_text_decodes() -> None:
    raw = text("packet-ready.json").encode("utf-8")
    assert "—".encode() in raw
    assert decode(raw, "packet-ready").data.title.startswith("Identity-service outage")


def test_an_escaped_surrogate_pair_is_a_valid_character_not_a_lone_surrogate() -> None:
    doc = event("packet-ready.json")
    doc["data"]["title"] = "Recovery package \U0001f600"
    doc["data"] = rehash(doc["data"])
    raw = json.dumps(doc, ensure_ascii=True).encode()
    assert b"\\ud83d\\ude00" in raw
    assert decode(raw, "packet-ready").data.title.endswith("\U0001f600")
