"""approve / reject / forward: build and sign a decision over a stored revision, publish it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from service.adapters.kafka_clients import publish
from service.cli.common import fail, open_store, read_seed, settings_from_env
from service.contract.envelope import make_event
from service.domain.canonical import manifest_id
from service.domain.revision import fold_packet
from service.domain.signing import sign
from service.domain.times import format_time, parse_time
from service.settings import Settings

CLI_SOURCE = "urn:release-gate-cli"
DEMO_KEY = Path("ops/governance/demo-keys/dana.ortiz.seed")
Csv = Annotated[str, typer.Option(help="comma-separated identities")]


async def stored_packet(settings: Settings, packet_id: str, revision: int) -> dict[str, Any]:
    async with open_store(settings) as store:
        packet = fold_packet(packet_id, await store.load_packet(packet_id))
    rev = packet.get(revision)
    if rev is None or rev.packet is None:
        raise fail(f"revision {revision} of {packet_id} is not stored; pass the hashes yourself")
    return dict(rev.packet)


def build_decision(
    packet: dict[str, Any],
    decision: str,
    approver: str,
    decision_id: str,
    seed: bytes,
    audience: list[str],
    valid_from: datetime,
    valid_until: datetime,
    reason: str | None,
    signed_at: datetime | None = None,
) -> dict[str, Any]:
    """A version-2 decision: its signing time and meaning are inside the signed bytes."""
    data: dict[str, Any] = {
        "decision_id": decision_id,
        "packet_id": packet["packet_id"],
        "revision": packet["revision"],
        "decision": decision,
        "approver": approver,
        "lane_id": packet["lane_id"],
        "packet_hash": packet["packet_hash"],
        "option_set_hash": packet["option_set_hash"],
        "signed_at": format_time(signed_at or datetime.now(UTC)),
    }
    if decision == "approve":
        data |= {
            "audience": audience,
            "valid_from": format_time(valid_from),
            "valid_until": format_time(valid_until),
        }
    else:
        data["reason"] = reason or "rejected by the release owner"
    data["signature"] = sign(data, seed)
    return data


async def send_decision(settings: Settings, data: dict[str, Any], source: str) -> str:
    event_id = f"{data['decision_id']}:{data['decision']}"
    version = 2 if "signed_at" in data else 1
    event = make_event(
        "approval-decision",
        event_id,
        data["packet_id"],
        datetime.now(UTC),
        data,
        source=source,
        schemaversion=version,
    )
    await publish(settings, "approval-decision", data["packet_id"], event)
    return event_id


def approve(
    packet_id: str,
    revision: int,
    approver: Annotated[str, typer.Option(help="your identity, as the governance file lists it")],
    key_file: Annotated[Path, typer.Option(help="your key: PKCS#8 PEM or base64 seed")],
    audience: Csv = "exec:cro,exec:general-counsel",
    valid_from: Annotated[str | None, typer.Option(help="RFC 3339; default now")] = None,
    valid_for: Annotated[int, typer.Option(help="window length in hours")] = 72,
    decision_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Sign an approval of one stored revision with the owner's key and publish it."""
    settings = settings_from_env()
    seed = read_seed(key_file)
    start = parse_time(valid_from) if valid_from else datetime.now(UTC).replace(microsecond=0)
    packet = asyncio.run(stored_packet(settings, packet_id, revision))
    did = decision_id or f"AD-{packet_id}-r{revision}-{int(start.timestamp())}"
    data = build_decision(
        packet,
        "approve",
        approver,
        did,
        seed,
        [a for a in audience.split(",") if a],
        start,
        start + timedelta(hours=valid_for),
        None,
    )
    event_id = asyncio.run(send_decision(settings, data, CLI_SOURCE))
    typer.echo(f"published approval-decision {event_id}")


def _without_terms(
    decision: str,
    packet_id: str,
    revision: int,
    reason: str,
    approver: str,
    key_file: Path,
    decision_id: str | None,
) -> None:
    """Sign a decision that carries a reason and no terms (reject, revoke) and publish it."""
    settings = settings_from_env()
    seed = read_seed(key_file)
    now = datetime.now(UTC)
    packet = asyncio.run(stored_packet(settings, packet_id, revision))
    did = decision_id or f"AD-{packet_id}-r{revision}-{decision}"
    data = build_decision(packet, decision, approver, did, seed, [], now, now, reason)
    event_id = asyncio.run(send_decision(settings, data, CLI_SOURCE))
    typer.echo(f"published approval-decision {event_id}")


Approver = Annotated[str, typer.Option(help="your identity, as the governance file lists it")]
KeyFile = Annotated[Path, typer.Option(help="your key: PKCS#8 PEM or base64 seed")]


def reject(
    packet_id: str,
    revision: int,
    reason: Annotated[str, typer.Option()],
    approver: Approver,
    key_file: KeyFile,
    decision_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Sign a rejection of one stored revision and publish it."""
    _without_terms("reject", packet_id, revision, reason, approver, key_file, decision_id)


def revoke(
    packet_id: str,
    revision: int,
    reason: Annotated[str, typer.Option()],
    approver: Approver,
    key_file: KeyFile,
    decision_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Sign a revocation of an approved or released revision and publish it (never undone)."""
    _without_terms("revoke", packet_id, revision, reason, approver, key_file, decision_id)


def forward(
    packet_id: str,
    revision: int,
    to: Csv,
    requested_by: Annotated[str, typer.Option()] = "exec:cro",
    channel: Annotated[str, typer.Option()] = "email",
    request_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Publish a forward-request for a released revision."""
    settings = settings_from_env()
    rid = request_id or f"FR-{packet_id}-r{revision}-{int(datetime.now(UTC).timestamp())}"
    data = {
        "request_id": rid,
        "packet_id": packet_id,
        "revision": revision,
        "manifest_id": manifest_id(packet_id, revision),
        "requested_by": requested_by,
        "recipients": [r for r in to.split(",") if r],
        "channel": channel,
    }
    event = make_event(
        "forward-request",
        rid,
        packet_id,
        datetime.now(UTC),
        data,
        source="urn:release-gate-cli",
    )
    asyncio.run(publish(settings, "forward-request", packet_id, event))
    typer.echo(f"published forward-request {rid}")


def register(app: typer.Typer) -> None:
    app.command()(approve)
    app.command()(reject)
    app.command()(revoke)
    app.command()(forward)
