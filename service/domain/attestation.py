"""Release attestations, the pure part: the in-toto Statement v1 a release manifest is signed
as, the manifest fields it binds, and the check that a statement matches a manifest.

The statement's subject is the manifest (its id, and its manifest_hash as the sha256 digest);
its predicate repeats the fields a downstream consumer acts on. The DSSE envelope around it
is made and checked with securesystemslib (service/adapters/attestation.py); what is signed
is the RFC 8785 form of the statement (service/domain/canonical.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from service.domain.canonical import canonical, manifest_hash

PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "urn:release-gate:predicate:release:v1"
DIGEST_PREFIX: Final = "sha256:"

# Manifest fields the predicate carries as they are.
COPIED_FIELDS: Final[tuple[str, ...]] = (
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
)
# The predicate's fields: the copied ones, then the approvals behind the release.
PREDICATE_FIELDS: Final[tuple[str, ...]] = (*COPIED_FIELDS, "approvals_required", "approvals")
# What a manifest needs for a statement to be made of it.
NEEDED_FIELDS: Final[tuple[str, ...]] = ("manifest_id", *COPIED_FIELDS)


def hex_digest(prefixed: str) -> str:
    """The hex of a contract digest ("sha256:<hex>"), as in-toto's digest sets hold it."""
    return prefixed.removeprefix(DIGEST_PREFIX)


def approvals_of(data: Mapping[str, Any]) -> tuple[int, list[Any]]:
    """(approvals_required, approvals) of a manifest: its own lists when it carries them,
    else the single approval its `approver` and `decision_id` name."""
    if "approvals" in data:
        return data.get("approvals_required", len(data["approvals"])), list(data["approvals"])
    single = {
        "decision_id": data.get("decision_id"),
        "approver": data.get("approver"),
        "signed_at": None,
        "meaning": "approve",
        "signature": None,
    }
    return 1, [single]


def predicate_of(data: Mapping[str, Any]) -> dict[str, Any]:
    required, approvals = approvals_of(data)
    predicate = {name: data[name] for name in COPIED_FIELDS}
    predicate["approvals_required"] = required
    predicate["approvals"] = approvals
    return predicate


def statement_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The in-toto Statement v1 for a release manifest's data; the subject digest is what
    the content hashes to (manifest_hash leaves out `manifest_hash` and `attestation`)."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": data["manifest_id"], "digest": {"sha256": hex_digest(manifest_hash(data))}}
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate_of(data),
    }


def statement_payload(statement: Mapping[str, Any]) -> bytes:
    """The bytes the DSSE envelope carries: the statement's RFC 8785 form."""
    return canonical(dict(statement))


def missing_fields(data: Mapping[str, Any]) -> list[str]:
    return [name for name in (*NEEDED_FIELDS, "manifest_hash") if name not in data]


def manifest_hash_problems(data: Mapping[str, Any]) -> list[str]:
    """The manifest's own hash against its content."""
    recomputed = manifest_hash(data)
    if data.get("manifest_hash") != recomputed:
        return [
            f"manifest_hash: data says {data.get('manifest_hash')} "
            f"but the content hashes to {recomputed}"
        ]
    return []


def statement_problems(statement: Any, data: Mapping[str, Any]) -> list[str]:
    """Every way `statement` fails to be this manifest's statement; [] if it is."""
    if not isinstance(statement, dict):
        return ["statement: the payload is not a JSON object"]
    problems = []
    if statement.get("_type") != STATEMENT_TYPE:
        problems.append(f"statement _type: {statement.get('_type')!r}, not {STATEMENT_TYPE}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        problems.append(
            f"statement predicateType: {statement.get('predicateType')!r}, not {PREDICATE_TYPE}"
        )
    problems += subject_problems(statement.get("subject"), data)
    problems += predicate_problems(statement.get("predicate"), data)
    return problems


def subject_problems(subject: Any, data: Mapping[str, Any]) -> list[str]:
    valid = (
        isinstance(subject, list)
        and len(subject) == 1
        and isinstance(subject[0], dict)
        and isinstance(subject[0].get("digest"), dict)
    )
    if not valid:
        return ["statement subject: expected exactly one subject with a digest"]
    problems = []
    name, digest = subject[0].get("name"), subject[0]["digest"].get("sha256")
    if name != data["manifest_id"]:
        problems.append(f"statement subject name {name!r} is not this manifest's id")
    expected = hex_digest(manifest_hash(data))
    if digest != expected:
        problems.append(
            f"statement subject digest sha256:{digest} is not this manifest's (sha256:{expected})"
        )
    return problems


def same_json(one: Any, other: Any) -> bool:
    """Equal as JSON, not as Python (where 1 == True == 1.0)."""
    return canonical(one) == canonical(other)


def predicate_problems(predicate: Any, data: Mapping[str, Any]) -> list[str]:
    if not isinstance(predicate, dict):
        return ["statement predicate: not a JSON object"]
    expected = predicate_of(data)
    problems = [
        f"predicate {name}: the statement says {predicate.get(name)!r}, "
        f"the manifest {expected[name]!r}"
        for name in PREDICATE_FIELDS
        if name not in predicate or not same_json(predicate[name], expected[name])
    ]
    problems += [
        f"predicate {name}: not a field of the release predicate"
        for name in sorted(set(predicate) - set(PREDICATE_FIELDS))
    ]
    return problems
