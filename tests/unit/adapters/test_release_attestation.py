"""Release attestations signed with the gate key (service/adapters/attestation.py): made at
publish time, deterministic, accepted when genuine and refused, with the failed check named,
when the manifest, the key, the statement or the envelope is not the one signed."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.adapters.attestation import Attestor, sign_statement, verify_manifest
from service.adapters.memory_store import MemoryStore
from service.adapters.outbox import KafkaOutbox, encode
from service.contract.version2 import payload_model
from service.domain.attestation import PAYLOAD_TYPE, statement_of
from service.domain.commands import ApprovalDecided, PacketReady
from service.domain.facts import Fact
from service.settings import Settings
from tests.support.builders import gate_key, manifest, one_byte_changed, other_gate_key
from tests.unit.domain.builders import T0, Log, approval_data, packet_data

GATE = gate_key()


def public() -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(GATE.public_raw)


def attested(data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return Attestor(GATE).attested(manifest() if data is None else data)


def problems(data: Mapping[str, Any]) -> list[str]:
    return verify_manifest(data, public()).problems


def test_the_attestation_is_a_dsse_envelope_over_the_statement_by_the_gate_key() -> None:
    data = attested()
    envelope = data["attestation"]
    assert envelope["payloadType"] == PAYLOAD_TYPE == "application/vnd.in-toto+json"
    assert json.loads(base64.b64decode(envelope["payload"])) == statement_of(manifest())
    assert [s["keyid"] for s in envelope["signatures"]] == [GATE.keyid]
    assert {k: v for k, v in data.items() if k != "attestation"} == manifest()


def test_the_same_manifest_under_the_same_key_is_attested_byte_for_byte_the_same() -> None:
    first, again = Attestor(GATE), Attestor(gate_key())
    assert encode(first.attested(manifest())) == encode(again.attested(manifest()))
    # Attesting an attested manifest replaces the attestation with the same one.
    assert encode(first.attested(first.attested(manifest()))) == encode(first.attested(manifest()))


def test_a_genuine_manifest_verifies_and_says_what_was_checked() -> None:
    result = verify_manifest(attested(), public())
    assert result.ok and result.problems == []
    checked = " ".join(result.passed)
    for what in ("manifest_hash", "signature", "payload type", "statement", "subject", "predicate"):
        assert what in checked


def test_one_byte_changed_in_the_manifest_fails_its_hash_and_the_subject_digest() -> None:
    raw = encode(attested())
    changed = json.loads(one_byte_changed(raw, b"250000.00"))
    assert changed["options"][0]["credit_cap"]["amount"] == "350000.00"
    found = problems(changed)
    assert [p.split(" ")[0] for p in found] == ["manifest_hash:", "statement"]
    assert found[0].startswith(f"manifest_hash: data says {manifest()['manifest_hash']} but")
    assert "statement subject digest" in found[1] and "is not this manifest's" in found[1]


def test_the_gate_signs_the_digest_of_the_content_not_the_one_the_manifest_records() -> None:
    wrong = {**manifest(), "manifest_hash": "sha256:" + "1" * 64}
    data = attested(wrong)
    statement = json.loads(base64.b64decode(data["attestation"]["payload"]))
    assert statement["subject"][0]["digest"]["sha256"] == manifest()["manifest_hash"][7:]
    assert [p.split(" ")[0] for p in problems(data)] == ["manifest_hash:"]


def test_a_manifest_signed_by_another_key_is_refused() -> None:
    forged = Attestor(other_gate_key()).attested(manifest())
    assert problems(forged) == [
        f"signature: not by the given key (keyid {GATE.keyid}); signed by {other_gate_key().keyid}"
    ]


def test_a_signature_under_the_right_keyid_that_does_not_verify_is_refused() -> None:
    data = attested()
    other = Attestor(other_gate_key()).attested(manifest())["attestation"]["signatures"][0]
    data["attestation"]["signatures"][0]["sig"] = other["sig"]
    assert problems(data) == [f"signature: does not verify under the given key {GATE.keyid}"]


def test_a_properly_signed_statement_naming_another_digest_is_refused() -> None:
    statement = statement_of(manifest())
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    data = {**manifest(), "attestation": sign_statement(statement, GATE.signer)}
    (problem,) = problems(data)
    assert problem.startswith(f"statement subject digest sha256:{'0' * 64} is not this manifest's")


def test_a_properly_signed_statement_with_a_predicate_field_differing_is_refused() -> None:
    statement = statement_of(manifest())
    statement["predicate"]["valid_until"] = "2027-11-30T18:05:00Z"
    data = {**manifest(), "attestation": sign_statement(statement, GATE.signer)}
    assert problems(data) == [
        "predicate valid_until: the statement says '2027-11-30T18:05:00Z', "
        "the manifest '2026-11-30T18:05:00Z'"
    ]


def test_an_envelope_of_another_payload_type_is_refused() -> None:
    data = attested()
    data["attestation"]["payloadType"] = "application/json"
    # The type is signed too (DSSE's pre-authentication encoding): both checks fail.
    assert problems(data) == [
        f"signature: does not verify under the given key {GATE.keyid}",
        "payload type: 'application/json', not application/vnd.in-toto+json",
    ]


def test_a_manifest_without_an_attestation_or_with_a_broken_one_is_refused() -> None:
    assert problems(manifest()) == ["attestation: the manifest carries none"]
    (broken,) = problems({**manifest(), "attestation": {"payload": "e30="}})
    assert broken.startswith("attestation: not a DSSE envelope (KeyError")
    data = manifest()
    del data["manifest_id"]
    assert problems(data) == ["manifest: missing manifest_id"]


def test_verifying_leaves_the_envelope_as_it_was() -> None:
    data = attested()
    before = copy.deepcopy(data)
    assert problems(data) == []
    assert data == before


def test_an_independent_ed25519_check_over_the_dsse_encoding_accepts_the_signature() -> None:
    envelope = attested()["attestation"]
    body = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    # DSSE v1 pre-authentication encoding, written out here rather than taken from the library.
    pae = b" ".join([b"DSSEv1", str(len(kind)).encode(), kind, str(len(body)).encode(), body])
    (signature,) = envelope["signatures"]
    public().verify(base64.b64decode(signature["sig"]), pae)
    with pytest.raises(InvalidSignature):
        public().verify(base64.b64decode(signature["sig"]), pae.replace(b"DSSEv1", b"DSSEv2"))
    other = Ed25519PublicKey.from_public_bytes(other_gate_key().public_raw)
    with pytest.raises(InvalidSignature):
        other.verify(base64.b64decode(signature["sig"]), pae)


class Recorded(KafkaOutbox):
    """KafkaOutbox with the broker replaced by a list (its publish path untouched)."""

    sent: list[tuple[str, Mapping[str, Any]]]

    async def send(self, topic: str, key: str, event: Mapping[str, Any]) -> Any:
        self.sent.append((topic, event))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def released_facts() -> list[Fact]:
    log = Log()
    pkt = packet_data()
    log.send(PacketReady("ready-1", pkt))
    log.send(ApprovalDecided("ap-1", approval_data(pkt, valid_from=T0)))
    return log.facts


async def published(facts: list[Fact]) -> list[tuple[str, Mapping[str, Any]]]:
    outbox = Recorded(None, MemoryStore(), Settings(), Attestor(GATE))  # type: ignore[arg-type]
    outbox.sent = []
    await outbox.publish(facts)
    return outbox.sent


async def test_the_outbox_attests_release_manifests_as_they_leave_and_nothing_else() -> None:
    facts = released_facts()
    sent = await published(facts)
    manifests = [e for topic, e in sent if topic == "release-manifest"]
    others = [e for topic, e in sent if topic != "release-manifest"]
    assert len(manifests) == 1 and others
    assert problems(manifests[0]["data"]) == []
    assert manifests[0]["schemaversion"] == 2
    model = payload_model("release-manifest", 2)
    assert model is not None and model.model_validate(manifests[0]["data"])
    # The predicate lists the manifest's own approvals, signatures included.
    statement = json.loads(base64.b64decode(manifests[0]["data"]["attestation"]["payload"]))
    assert statement["predicate"]["approvals"] == manifests[0]["data"]["approvals"]
    assert statement["predicate"]["approvals"][0]["signature"]
    assert all("attestation" not in e["data"] for e in others)
    # The fact log keeps the manifest without it.
    kept = [o.data for f in facts for o in f.outbox if o.topic == "release-manifest"]
    assert kept and "attestation" not in kept[0]
    assert {**kept[0], "attestation": manifests[0]["data"]["attestation"]} == manifests[0]["data"]


async def test_a_republished_manifest_is_byte_for_byte_the_first() -> None:
    facts = released_facts()
    first, again = await published(facts), await published(facts)
    assert [encode(e) for _, e in first] == [encode(e) for _, e in again]
