"""status / audit verify / rebuild-projections / demo: read and check the stored logs."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from pymongo.errors import PyMongoError

from service.adapters.store import Projection
from service.cli.common import fail, open_store, read_seed, settings_from_env
from service.cli.decisions import DEMO_KEY
from service.domain.facts import group_by_revision, verify_chain
from service.domain.revision import fold_packet
from service.settings import Settings


def status(packet_id: str) -> None:
    """Print every revision of a packet, its state and its facts."""
    asyncio.run(_status(settings_from_env(), packet_id))


def audit_verify() -> None:
    """Verify every revision's hash chain; exit 1 naming the first broken link."""
    try:
        broken, revisions, facts = asyncio.run(_verify(settings_from_env()))
    except PyMongoError as exc:  # an outage is not a broken chain: its own exit code
        raise fail(f"the store is unreachable: {type(exc).__name__}: {exc}", 2) from exc
    if broken:
        typer.echo(f"BROKEN: {broken}", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {revisions} revision logs, {facts} facts, every chain verifies")


def rebuild_projections() -> None:
    """Rebuild the per-revision projections (state, due time) from the fact logs."""
    count = asyncio.run(_rebuild(settings_from_env()))
    typer.echo(f"rebuilt {count} revision projections")


def demo() -> None:
    """Play the seed scenario against the running stack and service."""
    from service.cli.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(settings_from_env(), read_seed(DEMO_KEY))))


def register(app: typer.Typer, audit: typer.Typer) -> None:
    app.command()(status)
    audit.command("verify")(audit_verify)
    app.command("rebuild-projections")(rebuild_projections)
    app.command()(demo)


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
