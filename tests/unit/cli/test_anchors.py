"""`audit verify --checkpoints`: the file's envelopes verify with the key given or are
refused by line, a gap or an edited leaf is named, and the options go together."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from service.adapters.gate_key import public_key_from_file
from service.cli.anchors import checkpoint_problems, read_anchors
from service.cli.main import whole_app
from tests.support.service import GATE_KEY_FILE
from tests.unit.gate.test_checkpointer import Sender, checkpointer, fact

runner = CliRunner()


async def exported(tmp_path: Path, batches: int = 3) -> tuple[Path, list[dict[str, Any]]]:
    """A file as `audit checkpoints` writes it: one event a line, checkpoints 1..batches."""
    sender = Sender()
    cp, _ = checkpointer(sender, cap=2)
    cp.note([fact(i) for i in range(1, 2 * batches + 1)])
    await cp.flush()
    events = [dict(event) for _, _, event in sender.sent]
    path = tmp_path / "checkpoints.jsonl"
    write(path, events)
    return path, events


def write(path: Path, events: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))


async def test_the_checkpoints_of_a_file_verify_with_the_gate_key(tmp_path: Path) -> None:
    path, _ = await exported(tmp_path)
    anchors, refused = read_anchors(path, public_key_from_file(GATE_KEY_FILE))
    assert refused == []
    assert [a.checkpoint.number for a in anchors] == [1, 2, 3]
    assert checkpoint_problems(anchors) == []


async def test_checkpoints_signed_by_another_key_are_refused_line_by_line(tmp_path: Path) -> None:
    path, _ = await exported(tmp_path)
    other = tmp_path / "other.pub"
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    other.write_text(base64.b64encode(raw).decode())
    anchors, refused = read_anchors(path, public_key_from_file(other))
    assert anchors == []
    assert [r.split(": ", 1)[0] for r in refused] == [f"{path}:{n}" for n in (1, 2, 3)]
    assert all("no signature verifies" in r for r in refused)


async def test_a_dropped_checkpoint_and_an_edited_leaf_are_named(tmp_path: Path) -> None:
    path, events = await exported(tmp_path)
    events[2]["data"]["leaves"][0][1] = "sha256:" + "f" * 64
    chain = events[0]["subject"]
    write(path, [events[0], events[2]])
    anchors, refused = read_anchors(path, public_key_from_file(GATE_KEY_FILE))
    assert refused == []
    assert checkpoint_problems(anchors) == [
        f"checkpoint 3 of chain {chain}: root or size is not that of its 2 leaves",
        f"checkpoint 2 of chain {chain} is missing",
    ]


async def test_a_line_that_is_no_checkpoint_event_is_refused(tmp_path: Path) -> None:
    path, events = await exported(tmp_path, batches=1)
    lifecycle = {**events[0], "type": "packet-lifecycle"}
    path.write_text(json.dumps(events[0]) + "\n\nnot json\n" + json.dumps(lifecycle) + "\n")
    anchors, refused = read_anchors(path, public_key_from_file(GATE_KEY_FILE))
    assert len(anchors) == 1
    assert [r.split(": ", 1)[0] for r in refused] == [f"{path}:3", f"{path}:4"]


def test_checkpoints_without_a_public_key_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(whole_app(), ["audit", "verify", "--checkpoints", str(tmp_path)])
    assert result.exit_code == 2
    assert "--checkpoints and --public-key go together" in result.output
