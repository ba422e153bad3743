"""`python -m service verify-manifest FILE --public-key KEY`, offline: exit 0 naming what was
verified, 1 naming each failed check, 2 for a file or key it cannot read."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.adapters.attestation import Attestor
from service.cli.main import app
from tests.support.builders import (
    GATE_KEY_FILE,
    envelope,
    gate_key,
    manifest,
    manifest_event,
    one_byte_changed,
    other_gate_key,
)

runner = CliRunner()


def written(tmp_path: Path, document: Any, name: str = "manifest.json") -> Path:
    path = tmp_path / name
    path.write_bytes(document if isinstance(document, bytes) else json.dumps(document).encode())
    return path


@pytest.fixture
def public_pem(tmp_path: Path) -> Path:
    path = tmp_path / "gate-public.pem"
    path.write_text(gate_key().public_pem())
    return path


def verify(file: Path, key: Path) -> Any:
    return runner.invoke(app, ["verify-manifest", str(file), "--public-key", str(key)])


def attested_event() -> dict[str, Any]:
    return manifest_event(Attestor(gate_key()).attested(manifest()))


def test_a_genuine_manifest_event_verifies_with_exit_0(tmp_path: Path, public_pem: Path) -> None:
    result = verify(written(tmp_path, attested_event()), public_pem)
    assert result.exit_code == 0, result.output
    assert "verified: release manifest RP-2026-0042@r3" in result.output
    assert f"keyid {gate_key().keyid}" in result.output
    assert "13 fields equal the manifest's" in result.output


def test_the_data_alone_and_every_key_form_verify(tmp_path: Path) -> None:
    data = written(tmp_path, attested_event()["data"])
    raw = tmp_path / "gate.b64"
    raw.write_text(base64.b64encode(gate_key().public_raw).decode() + "\n")
    for key in (raw, GATE_KEY_FILE):
        result = verify(data, key)
        assert result.exit_code == 0, (key, result.output)


def test_a_one_byte_change_exits_1_naming_manifest_hash(tmp_path: Path, public_pem: Path) -> None:
    raw = json.dumps(attested_event()).encode()
    result = verify(written(tmp_path, one_byte_changed(raw, b"250000.00")), public_pem)
    assert result.exit_code == 1
    assert "NOT verified" in result.output
    assert "manifest_hash: data says sha256:" in result.output
    assert "but the content hashes to sha256:" in result.output


def test_another_key_exits_1_naming_the_signature(tmp_path: Path, public_pem: Path) -> None:
    forged = manifest_event(Attestor(other_gate_key()).attested(manifest()))
    result = verify(written(tmp_path, forged), public_pem)
    assert result.exit_code == 1
    assert f"signature: not by the given key (keyid {gate_key().keyid})" in result.output


def test_a_missing_attestation_exits_1(tmp_path: Path, public_pem: Path) -> None:
    result = verify(written(tmp_path, manifest_event(manifest())), public_pem)
    assert result.exit_code == 1
    assert "attestation: the manifest carries none" in result.output


def test_an_unreadable_or_unusable_file_or_key_exits_2(tmp_path: Path, public_pem: Path) -> None:
    good = written(tmp_path, attested_event())
    other_event = envelope("packet-lifecycle", {"packet_id": "RP-1"})
    cases = {
        (tmp_path / "absent.json", public_pem): "cannot read",
        (written(tmp_path, b"{not json", "bad.json"), public_pem): "is not JSON",
        (written(tmp_path, [1, 2], "list.json"), public_pem): "expected a JSON object",
        (written(tmp_path, other_event, "other.json"), public_pem): "not a release-manifest",
        (good, written(tmp_path, b"not a key", "bad.pem")): "is not an Ed25519 public key",
        (good, tmp_path / "absent.pem"): "cannot read",
    }
    for (file, key), message in cases.items():
        result = verify(file, key)
        assert result.exit_code == 2, (file, key, result.output)
        assert message in result.output, (file, key, result.output)
