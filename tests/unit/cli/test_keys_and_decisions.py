"""The CLI's key files and decisions: no demo defaults, keys created private, never overwritten."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from service.adapters.governance_file import trusts_published_keys
from service.cli.common import read_seed
from service.cli.main import whole_app
from service.domain.governance import parse_governance
from tests.support.builders import OWNER_SEED, SECOND_OWNER, SECOND_SEED, governance_yaml, lane_yaml

runner = CliRunner()


def test_keygen_writes_a_pkcs8_key_and_its_seed_readable_by_the_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "owner.pem"
    result = runner.invoke(whole_app(), ["keygen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    seed_file = out.with_suffix(".seed")
    for path in (out, seed_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(out.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert key.private_bytes_raw() == base64.b64decode(seed_file.read_text())
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    assert f"public_key: {public}" in result.output


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    out = tmp_path / "owner.pem"
    out.write_text("precious")
    result = runner.invoke(whole_app(), ["keygen", "--out", str(out)])
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.output
    assert out.read_text() == "precious"


def test_a_key_file_may_be_pkcs8_pem_or_the_base64_seed(tmp_path: Path) -> None:
    pem = Ed25519PrivateKey.from_private_bytes(OWNER_SEED).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "k.pem").write_bytes(pem)
    (tmp_path / "k.seed").write_text(base64.b64encode(OWNER_SEED).decode() + "\n")
    assert read_seed(tmp_path / "k.pem") == read_seed(tmp_path / "k.seed") == OWNER_SEED
    (tmp_path / "bad").write_text("not a key")
    with pytest.raises(typer.Exit):
        read_seed(tmp_path / "bad")


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_approve_and_reject_need_the_owner_and_their_key(command: str) -> None:
    args = [command, "RP-1", "1"] + (["--reason", "no"] if command == "reject" else [])
    result = runner.invoke(whole_app(), args)
    assert (result.exit_code, "Missing option '--approver'.") == (
        2,
        result.output.split("│")[1].strip(),
    )
    with_owner = runner.invoke(whole_app(), [*args, "--approver", "user:x@y"])
    assert "Missing option '--key-file'" in with_owner.output


def test_the_published_test_keys_are_named_where_the_governance_file_trusts_them() -> None:
    trusted = trusts_published_keys(parse_governance(governance_yaml()))
    assert trusted == [
        "exec-customer-review: user:dana.ortiz@support",
        "exec-fast-review: user:dana.ortiz@support",
    ]
    clean = "lanes:\n" + lane_yaml("exec-customer-review", owners=((SECOND_OWNER, SECOND_SEED),))
    assert trusts_published_keys(parse_governance(clean)) == []
