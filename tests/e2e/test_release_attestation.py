"""A release manifest taken off Kafka verifies offline with the gate's public key, as served
at the well-known path, and a changed manifest, another key or a statement naming another
digest does not (`python -m service verify-manifest`, a separate process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.adapters.attestation import Attestor, sign_statement
from service.domain.attestation import statement_of
from tests.e2e.steps import mid, ready_and_released
from tests.support.builders import gate_key, one_byte_changed, other_gate_key
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

WELL_KNOWN = "/.well-known/release-gate/gate-key"
# verify-manifest needs neither: were it to try them, it would fail.
OFFLINE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "MONGODB_URL": "mongodb://127.0.0.1:1"}


async def released_manifest(bus: Bus) -> bytes:
    """The release-manifest record of a fresh released packet, as Kafka holds it."""
    pkt = await ready_and_released(bus)
    event_id = f"{mid(pkt['packet_id'])}:released"
    records = [
        raw for topic, e, raw in bus.seen if topic == "release-manifest" and e["id"] == event_id
    ]
    return records[0]


@pytest.fixture(scope="module")
async def served_key(service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The public key the service serves at the well-known path, written to a PEM file."""
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        answer = await client.get(WELL_KNOWN)
    assert answer.status_code == 200, answer.text
    path = tmp_path_factory.mktemp("keys") / "gate-public.pem"
    path.write_text(answer.json()["public_key_pem"])
    return path


def verify(service: ServiceProcess, tmp_path: Path, record: bytes, key: Path) -> Any:
    file = tmp_path / "manifest.json"
    file.write_bytes(record)
    return service.cli("verify-manifest", str(file), "--public-key", str(key), env=OFFLINE)


async def test_the_well_known_path_serves_the_fixture_keys_public_half_without_a_session(
    service: ServiceProcess,
) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        answer = await client.get(WELL_KNOWN)
    assert answer.status_code == 200
    assert answer.json() == gate_key().describe()
    assert "PRIVATE" not in answer.text


async def test_a_released_manifest_off_kafka_verifies_offline_with_the_served_key(
    bus: Bus, service: ServiceProcess, served_key: Path, tmp_path: Path
) -> None:
    record = await released_manifest(bus)
    result = verify(service, tmp_path, record, served_key)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest_id = json.loads(record)["data"]["manifest_id"]
    assert f"verified: release manifest {manifest_id}" in result.stdout
    assert f"keyid {gate_key().keyid}" in result.stdout


async def test_a_one_byte_change_to_a_released_manifest_fails_naming_manifest_hash(
    bus: Bus, service: ServiceProcess, served_key: Path, tmp_path: Path
) -> None:
    record = await released_manifest(bus)
    changed = one_byte_changed(record, b"250000.00")
    result = verify(service, tmp_path, changed, served_key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "manifest_hash: data says sha256:" in result.stderr


async def test_a_released_manifest_does_not_verify_under_another_key(
    bus: Bus, service: ServiceProcess, tmp_path: Path
) -> None:
    record = await released_manifest(bus)
    other = tmp_path / "other.pem"
    other.write_text(other_gate_key().public_pem())
    result = verify(service, tmp_path, record, other)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "signature: not by the given key" in result.stderr


async def test_an_attestation_naming_another_digest_fails_though_signed_with_the_gate_key(
    bus: Bus, service: ServiceProcess, served_key: Path, tmp_path: Path
) -> None:
    event = json.loads(await released_manifest(bus))
    statement = statement_of(event["data"])
    statement["subject"][0]["digest"]["sha256"] = "f" * 64
    event["data"]["attestation"] = sign_statement(statement, gate_key().signer)
    result = verify(service, tmp_path, json.dumps(event).encode(), served_key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"statement subject digest sha256:{'f' * 64} is not this manifest's" in result.stderr


async def test_the_published_attestation_is_what_the_gate_key_makes_of_the_manifest(
    bus: Bus,
) -> None:
    data = json.loads(await released_manifest(bus))["data"]
    assert Attestor(gate_key()).attested(data) == data
