"""The in-toto statement of a release manifest (service/domain/attestation.py): its shape, the
fields it binds, and the check that a statement is this manifest's."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from service.domain.attestation import (
    PREDICATE_FIELDS,
    approvals_of,
    predicate_of,
    statement_of,
    statement_payload,
    statement_problems,
)
from service.domain.canonical import canonical, manifest_hash
from tests.support.builders import manifest, rehash_manifest

APPROVALS = [
    {
        "decision_id": "AD-7781",
        "approver": "user:dana.ortiz@support",
        "signed_at": "2026-11-27T18:04:00Z",
        "meaning": "approve",
        "signature": "c2lnbmF0dXJl",
    },
    {
        "decision_id": "AD-7782",
        "approver": "user:sam.reyes@support",
        "signed_at": None,
        "meaning": "approve",
        "signature": None,
    },
]


def test_the_statement_names_the_manifest_by_id_and_by_the_hex_of_its_manifest_hash() -> None:
    data = manifest()
    statement = statement_of(data)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "urn:release-gate:predicate:release:v1"
    hex_digest = hashlib.sha256(canonical({k: v for k, v in data.items() if k != "manifest_hash"}))
    assert statement["subject"] == [
        {"name": "RP-2026-0042@r3", "digest": {"sha256": hex_digest.hexdigest()}}
    ]
    assert data["manifest_hash"] == "sha256:" + hex_digest.hexdigest()


def test_the_predicate_binds_exactly_the_listed_manifest_fields_and_the_approvals() -> None:
    assert PREDICATE_FIELDS == (
        "packet_id",
        "revision",
        "packet_hash",
        "option_set_hash",
        "lane_id",
        "audience",
        "valid_from",
        "valid_until",
        "released_at",
        "evidence_refs",
        "supersedes",
        "approvals_required",
        "approvals",
    )
    data = manifest()
    predicate = predicate_of(data)
    assert list(predicate) == list(PREDICATE_FIELDS)
    for name in PREDICATE_FIELDS[:-2]:
        assert predicate[name] == data[name], name


def test_a_manifest_without_approvals_is_attested_with_its_one_approver_unsigned() -> None:
    assert approvals_of(manifest()) == (
        1,
        [
            {
                "decision_id": "AD-7781",
                "approver": "user:dana.ortiz@support",
                "signed_at": None,
                "meaning": "approve",
                "signature": None,
            }
        ],
    )


def test_a_manifest_with_approvals_is_attested_with_them_as_they_are() -> None:
    data = rehash_manifest(manifest(), approvals_required=2, approvals=APPROVALS)
    predicate = predicate_of(data)
    assert predicate["approvals_required"] == 2
    assert predicate["approvals"] == APPROVALS


def test_the_payload_is_the_rfc8785_form_of_the_statement() -> None:
    statement = statement_of(manifest())
    payload = statement_payload(statement)
    assert json.loads(payload) == statement
    assert payload == canonical(json.loads(payload.decode()))
    assert b" " not in payload.split(b'"summary"')[0]  # no insignificant whitespace


def test_manifest_hash_leaves_out_the_attestation_and_nothing_else() -> None:
    data = manifest()
    attested = {**data, "attestation": {"payload": "x", "payloadType": "y", "signatures": []}}
    assert manifest_hash(attested) == manifest_hash(data) == data["manifest_hash"]
    assert manifest_hash({**data, "attestations": []}) != data["manifest_hash"]
    assert manifest_hash({**data, "revision": 4}) != data["manifest_hash"]


def test_the_manifests_own_statement_matches_it() -> None:
    for data in (
        manifest(),
        rehash_manifest(manifest(), approvals_required=2, approvals=APPROVALS),
    ):
        assert statement_problems(statement_of(data), data) == []


def altered(change: Any) -> list[str]:
    data = manifest()
    statement = copy.deepcopy(statement_of(data))
    change(statement)
    return statement_problems(statement, data)


def test_a_statement_of_another_type_or_predicate_type_is_refused() -> None:
    assert altered(lambda s: s.update(_type="https://in-toto.io/Statement/v0.1")) == [
        "statement _type: 'https://in-toto.io/Statement/v0.1', not https://in-toto.io/Statement/v1"
    ]
    (problem,) = altered(lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"))
    assert problem.startswith("statement predicateType: 'https://slsa.dev/provenance/v1'")


def test_a_statement_naming_another_manifest_or_digest_is_refused() -> None:
    (name,) = altered(lambda s: s["subject"][0].update(name="RP-2026-0042@r2"))
    assert name == "statement subject name 'RP-2026-0042@r2' is not this manifest's id"
    (digest,) = altered(lambda s: s["subject"][0].update(digest={"sha256": "ab" * 32}))
    assert digest.startswith(f"statement subject digest sha256:{'ab' * 32} is not this manifest's")
    (two,) = altered(lambda s: s["subject"].append(s["subject"][0]))
    assert two == "statement subject: expected exactly one subject with a digest"


def test_each_predicate_field_that_differs_is_named() -> None:
    def change(statement: dict[str, Any]) -> None:
        statement["predicate"]["audience"] = ["exec:cro", "exec:general-counsel", "exec:cfo"]
        statement["predicate"]["supersedes"] = [True, 2]  # == [1, 2] in Python, not in JSON
        del statement["predicate"]["valid_until"]
        statement["predicate"]["note"] = "extra"

    problems = altered(change)
    assert [p.split(":")[0] for p in problems] == [
        "predicate audience",
        "predicate valid_until",
        "predicate supersedes",
        "predicate note",
    ]


def test_a_statement_that_is_no_object_is_refused() -> None:
    assert statement_problems([], manifest()) == ["statement: the payload is not a JSON object"]
