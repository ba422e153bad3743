"""CLI commands that talk to Kafka and the store (registered by service.cli.main)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from service.adapters.kafka_io import publish
from service.adapters.mongo_store import MongoStore
from service.adapters.store import Projection
from service.contract.envelope import make_event
from service.contract.times import format_time, parse_time
from service.domain.canonical import manifest_id
from service.domain.facts import group_by_revision, verify_chain
from service.domain.revision import fold_packet
from service.domain.signing import sign
from service.settings import Settings

CLI_SOURCE = "urn:release-gate-cli"
DEFAULT_KEY = Path("ops/governance/demo-keys/dana.ortiz.seed")
Csv = Annotated[str, typer.Option(help="comma-separated identities")]


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[MongoStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    try:
        yield MongoStore(client[settings.mongodb_database])
    finally:
        await client.close()


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def read_seed(key_file: Path) -> bytes:
    try:
        seed = base64.b64decode(key_file.read_text().strip(), validate=True)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read a base64 Ed25519 seed from {key_file}: {exc}") from exc
    if len(seed) != 32:
        raise fail(f"{key_file} holds {len(seed)} bytes; an Ed25519 seed is 32")
    return seed


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
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "decision_id": decision_id,
        "packet_id": packet["packet_id"],
        "revision": packet["revision"],
        "decision": decision,
        "approver": approver,
        "lane_id": packet["lane_id"],
        "packet_hash": packet["packet_hash"],
        "option_set_hash": packet["option_set_hash"],
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
    event = make_event(
        "approval-decision", event_id, data["packet_id"], datetime.now(UTC), data, source=source
    )
    await publish(settings, "approval-decision", data["packet_id"], event)
    return event_id


def register(app: typer.Typer, audit: typer.Typer) -> None:
    @app.command()
    def approve(
        packet_id: str,
        revision: int,
        approver: Annotated[str, typer.Option()] = "user:dana.ortiz@support",
        audience: Csv = "exec:cro,exec:general-counsel",
        valid_from: Annotated[str | None, typer.Option(help="RFC 3339; default now")] = None,
        valid_for: Annotated[int, typer.Option(help="window length in hours")] = 72,
        decision_id: Annotated[str | None, typer.Option()] = None,
        key_file: Annotated[Path, typer.Option(help="base64 private seed")] = DEFAULT_KEY,
    ) -> None:
        """Sign an approval of one stored revision with the owner's key and publish it."""
        settings = Settings()
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

    @app.command()
    def reject(
        packet_id: str,
        revision: int,
        reason: Annotated[str, typer.Option()],
        approver: Annotated[str, typer.Option()] = "user:dana.ortiz@support",
        decision_id: Annotated[str | None, typer.Option()] = None,
        key_file: Annotated[Path, typer.Option(help="base64 private seed")] = DEFAULT_KEY,
    ) -> None:
        """Sign a rejection of one stored revision and publish it."""
        settings = Settings()
        seed = read_seed(key_file)
        now = datetime.now(UTC)
        packet = asyncio.run(stored_packet(settings, packet_id, revision))
        did = decision_id or f"AD-{packet_id}-r{revision}-reject"
        data = build_decision(packet, "reject", approver, did, seed, [], now, now, reason)
        event_id = asyncio.run(send_decision(settings, data, CLI_SOURCE))
        typer.echo(f"published approval-decision {event_id}")

    @app.command()
    def forward(
        packet_id: str,
        revision: int,
        to: Csv,
        requested_by: Annotated[str, typer.Option()] = "exec:cro",
        channel: Annotated[str, typer.Option()] = "email",
        request_id: Annotated[str | None, typer.Option()] = None,
    ) -> None:
        """Publish a forward-request for a released revision."""
        settings = Settings()
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

    @app.command()
    def status(packet_id: str) -> None:
        """Print every revision of a packet, its state and its facts."""
        asyncio.run(_status(Settings(), packet_id))

    @audit.command("verify")
    def audit_verify() -> None:
        """Verify every revision's hash chain; exit 1 naming the first broken link."""
        try:
            broken, revisions, facts = asyncio.run(_verify(Settings()))
        except PyMongoError as exc:  # an outage is not a broken chain: its own exit code
            raise fail(f"the store is unreachable: {type(exc).__name__}: {exc}", 2) from exc
        if broken:
            typer.echo(f"BROKEN: {broken}", err=True)
            raise typer.Exit(1)
        typer.echo(f"ok: {revisions} revision logs, {facts} facts, every chain verifies")

    @app.command("rebuild-projections")
    def rebuild_projections() -> None:
        """Rebuild the per-revision projections (state, due time) from the fact logs."""
        count = asyncio.run(_rebuild(Settings()))
        typer.echo(f"rebuilt {count} revision projections")

    @app.command()
    def demo() -> None:
        """Play the seed scenario against the running stack and service."""
        from service.demo import run_demo

        raise typer.Exit(asyncio.run(run_demo(Settings(), read_seed(DEFAULT_KEY))))


async def _status(settings: Settings, packet_id: str) -> None:
    async with open_store(settings) as store:
        facts = await store.load_packet(packet_id)
    if not facts:
        raise fail(f"no packet {packet_id}", 1)
    for number, rev in sorted(fold_packet(packet_id, facts).items()):
        typer.echo(f"r{number}: {rev.state.value if rev.state else '-'}")
        for fact in group_by_revision(facts)[number]:
            typer.echo(f"  {fact.seq:>3} {fact.at} {fact.kind:<16} {fact.reason or ''}")


async def _verify(settings: Settings) -> tuple[str | None, int, int]:
    revisions = facts_seen = 0
    current: list[Any] = []
    key: tuple[str, int] | None = None
    async with open_store(settings) as store:
        async for fact in store.all_facts():
            facts_seen += 1
            if (fact.packet_id, fact.revision) != key:
                if current and (broken := verify_chain(current)):
                    return str(broken), revisions, facts_seen
                key, current, revisions = (fact.packet_id, fact.revision), [], revisions + 1
            current.append(fact)
    if current and (broken := verify_chain(current)):
        return str(broken), revisions, facts_seen
    return None, revisions, facts_seen


async def _rebuild(settings: Settings) -> int:
    count = 0
    async with open_store(settings) as store:
        for packet_id in await store.packet_ids():
            packet = fold_packet(packet_id, await store.load_packet(packet_id))
            await store.save_projections(Projection.of(r) for r in packet.values())
            count += len(packet)
    return count
