"""audit checkpoints / audit verify --checkpoints: the store against the signed checkpoints
the gate published on `audit-checkpoint` (docs/security.md, "Audit checkpoints")."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.errors import KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pymongo.errors import PyMongoError

from service.adapters.dsse import EnvelopeRefused, verified_payload
from service.adapters.gate_key import GateKeyError, public_key_from_file
from service.adapters.kafka_clients import read_topic
from service.cli.common import fail, open_store, settings_from_env
from service.contract.checkpoint import AuditCheckpointData
from service.domain.checkpoint import (
    PAYLOAD_TYPE,
    Anchor,
    CheckpointInvalid,
    chain_problems,
    first_difference,
    parse_checkpoint,
)
from service.domain.facts import chain_digest
from service.settings import Settings

TOPIC = "audit-checkpoint"


def audit_checkpoints(
    out: Annotated[Path, typer.Option(help="the JSON-lines file to write, one event a line")],
) -> None:
    """Export the audit-checkpoint topic, from its beginning to its end offsets."""
    try:
        values = asyncio.run(read_topic(settings_from_env(), TOPIC))
    except (KafkaError, TimeoutError) as exc:
        raise fail(f"cannot read {TOPIC}: {type(exc).__name__}: {exc}", 2) from exc
    lines = [json.dumps(json.loads(v), ensure_ascii=False, separators=(",", ":")) for v in values]
    try:
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}", 2) from exc
    typer.echo(f"{len(lines)} checkpoint event(s) written to {out}")


def anchor_of(event: Any, key: Ed25519PublicKey) -> Anchor:
    """The checkpoint an exported event carries, once its signature verifies with `key`."""
    if not isinstance(event, dict) or event.get("type") != TOPIC:
        raise CheckpointInvalid(f"not an {TOPIC} event")
    data = AuditCheckpointData.model_validate(event.get("data"))
    payload = verified_payload(event["data"]["checkpoint"], key, PAYLOAD_TYPE)
    return Anchor(parse_checkpoint(payload), payload, tuple(data.leaves))


def read_anchors(path: Path, key: Ed25519PublicKey) -> tuple[list[Anchor], list[str]]:
    """Every verified checkpoint in the file, and why each other line was refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}", 2) from exc
    anchors, refused = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchors.append(anchor_of(json.loads(line), key))
        except (ValueError, EnvelopeRefused) as exc:  # pydantic's ValidationError included
            why = (str(exc).splitlines() or [""])[0]
            refused.append(f"{path}:{number}: {type(exc).__name__}: {why}")
    return anchors, refused


def checkpoint_problems(anchors: list[Anchor]) -> list[str]:
    chains: dict[str, list[Anchor]] = defaultdict(list)
    for anchor in anchors:
        chains[anchor.checkpoint.chain].append(anchor)
    return [problem for chain in sorted(chains) for problem in chain_problems(chains[chain])]


async def stored_hashes(settings: Settings) -> dict[str, tuple[str, str]]:
    """fact id -> (stored hash, hash recomputed from the stored content)."""
    found = {}
    async with open_store(settings) as store:
        async for fact in store.all_facts():
            found[fact.id] = (fact.hash, chain_digest(fact.hashed_content()))
    return found


def verify_against(settings: Settings, checkpoints: Path, public_key: Path) -> int:
    """Check the checkpoints, then the store against them; print the outcome, the exit code."""
    try:
        key = public_key_from_file(public_key)
    except GateKeyError as exc:
        raise fail(str(exc), 2) from exc
    anchors, refused = read_anchors(checkpoints, key)
    problems = [*refused, *checkpoint_problems(anchors)]
    for problem in problems:
        typer.echo(f"REFUSED: {problem}", err=True)
    if not anchors:
        typer.echo(f"REFUSED: {checkpoints} holds no checkpoint that verifies", err=True)
        return 1
    try:
        stored = asyncio.run(stored_hashes(settings))
    except PyMongoError as exc:
        raise fail(f"the store is unreachable: {type(exc).__name__}: {exc}", 2) from exc
    differs = first_difference(anchors, stored)
    if differs:
        typer.echo(f"DIFFERS: {differs}", err=True)
    report(anchors, stored)
    return 1 if problems or differs else 0


def report(anchors: list[Anchor], stored: Mapping[str, tuple[str, str]]) -> None:
    anchored = {fact_id for a in anchors for fact_id, _ in a.leaves}
    chains = {a.checkpoint.chain for a in anchors}
    uncovered = len(set(stored) - anchored)
    typer.echo(
        f"checkpoints: {len({(a.checkpoint.chain, a.checkpoint.number) for a in anchors})} in "
        f"{len(chains)} chain(s), {len(anchored)} anchored facts; {uncovered} stored fact(s) "
        "covered by no checkpoint (appended after the latest one, or by a process that "
        "stopped before its next)"
    )
