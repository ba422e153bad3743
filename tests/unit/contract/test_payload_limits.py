"""Payload models: identities compared exactly, limits enforced, outputs round-trip."""

from typing import Any

import pytest
from pydantic import ValidationError

from service.contract.payloads import (
    PAYLOAD_MODELS,
    DeadLetterData,
    EvidenceChangedData,
    ForwardOutcomeData,
    ForwardRequestData,
    PacketLifecycleData,
    ReleaseManifestData,
    ReviewFeedbackData,
)
from service.domain.canonical import manifest_hash
from tests.support.builders import load
from tests.unit.contract.support import forward_request, review_feedback

MANIFEST = load("release-manifest.data.json")["data"]


def request(**changes: Any) -> dict[str, Any]:
    return {**forward_request()["data"], **changes}


def feedback(**changes: Any) -> dict[str, Any]:
    return {**review_feedback()["data"], **changes}


@pytest.mark.parametrize(
    "identity",
    ["user:dana.ortiz@support", "exec:cro", "svc-a:x", "user:Ünïcode@example", "exec:CRO"],
)
def test_identity_strings_like_the_contracts_are_accepted_as_they_are(identity: str) -> None:
    data = ReviewFeedbackData.model_validate(feedback(reviewer=identity))
    assert data.reviewer == identity  # no trimming, no case folding


@pytest.mark.parametrize(
    "identity",
    [
        "",
        "cro",
        ":cro",
        "exec:",
        "Exec:cro",
        "exec: cro",
        " exec:cro",
        "exec:cro ",
        "exec:cro\n",
        "exec:c\tro",
        "exec:c\x00ro",
        "exec:" + "x" * 300,
    ],
)
def test_identities_with_whitespace_or_without_a_scheme_are_refused(identity: str) -> None:
    with pytest.raises(ValidationError):
        ReviewFeedbackData.model_validate(feedback(reviewer=identity))


@pytest.mark.parametrize(
    "recipients",
    [[], ["Exec:cro"], ["exec:cro "], [""], ["exec:c\x00ro"], ["exec:cro", "exec:cro"]],
)
def test_forward_recipients_are_taken_as_sent_for_the_gate_to_block(recipients: list[str]) -> None:
    data = ForwardRequestData.model_validate(request(recipients=recipients, requested_by=" x"))
    assert (data.recipients, data.requested_by) == (recipients, " x")


def test_a_forward_recipient_longer_than_any_identity_could_be_is_refused() -> None:
    with pytest.raises(ValidationError):
        ForwardRequestData.model_validate(request(recipients=["exec:" + "x" * 5000]))


def test_a_forward_request_needs_a_well_formed_manifest_id() -> None:
    with pytest.raises(ValidationError):
        ForwardRequestData.model_validate(request(manifest_id="RP-2026-0042"))


def test_ids_are_bounded_and_cannot_hold_the_characters_the_service_builds_ids_with() -> None:
    for packet_id in ["x" * 129, "RP@r1", "RP/1", "-RP", "RP 1"]:
        with pytest.raises(ValidationError):
            ForwardRequestData.model_validate(request(packet_id=packet_id))
    assert ForwardRequestData.model_validate(request(packet_id="x" * 128))


def test_an_audience_scope_change_names_its_lane_consistently() -> None:
    base = {"kind": "audience-scope", "ref": "exec-customer-review", "new_version": "2"}
    assert EvidenceChangedData.model_validate({**base, "lane_id": "exec-customer-review"})
    with pytest.raises(ValidationError, match="lane_id"):
        EvidenceChangedData.model_validate({**base, "lane_id": "other-lane"})


def test_the_example_manifest_round_trips_through_its_model_with_the_same_hash() -> None:
    model = ReleaseManifestData.model_validate(MANIFEST)
    dumped = model.model_dump(mode="json")
    assert dumped == MANIFEST
    assert manifest_hash(dumped) == MANIFEST["manifest_hash"]


def test_output_payloads_accept_what_the_service_emits() -> None:
    outcome = {**request(), "blocked_recipients": [], "reason": None, "detail": ""}
    del outcome["channel"]
    assert ForwardOutcomeData.model_validate(outcome).reason is None
    lifecycle = {
        "packet_id": "RP-1",
        "revision": 1,
        "from_state": None,
        "to_state": None,
        "reason": "unknown-revision",
        "detail": "r1 unknown",
        "cause_event_id": "e-1",
        "superseded_by": None,
        "at": "2026-11-27T18:00:00Z",
    }
    assert PacketLifecycleData.model_validate(lifecycle).model_dump(mode="json") == lifecycle
    dead = {
        "source_topic": "packet-ready",
        "partition": 0,
        "offset": 42,
        "key": "RP-1",
        "raw_value": "e30=",
        "error_kind": "invalid-json",
        "error_detail": "not JSON",
        "received_at": "2026-11-27T18:00:00.5Z",
    }
    dumped = DeadLetterData.model_validate(dead).model_dump(mode="json")
    assert dumped == {**dead, "received_at": "2026-11-27T18:00:00.500000Z"}


def test_every_event_type_has_a_payload_model() -> None:
    from service.contract.envelope import EVENT_TYPES

    assert set(PAYLOAD_MODELS) == set(EVENT_TYPES)
