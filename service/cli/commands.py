"""status / audit verify / rebuild-projections / demo: read and check the stored logs."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from pymongo.errors import PyMongoError

from service.adapters.store import Projection
from service.cli import anchors
from service.cli.common import fail, open_store, read_seed, settings_from_env
from service.cli.decisions import DEMO_KEY
from service.domain.facts import group_by_revision, verify_chain
from service.domain.revision import fold_packet
from service.settings import Settings


def status(packet_id: str) -> None:
    """Print every revision of a packet, its state and its facts."""
    asyncio.run(_status(settings_from_env(), packet_id))


def audit_verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="also check the store against these exported checkpoints (JSON lines)"),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="the gate's public key the checkpoints must verify with")
    ] = None,
) -> None:
    """Verify every revision's hash chain; exit 1 naming the first broken link. With
    --checkpoints and --public-key, also the store against the signed checkpoints (the first
    fact that differs from them is named)."""
    if (checkpoints is None) != (public_key is None):
        raise fail("--checkpoints and --public-key go together", 2)
    settings = settings_from_env()
    try:
        broken, revisions, facts = asyncio.run(_verify(settings))
    except PyMongoError as exc:  # an outage is not a broken chain: its own exit code
        raise fail(f"the store is unreachable: {type(exc).__name__}: {exc}", 2) from exc
    if broken:
        typer.echo(f"BROKEN: {broken}", err=True)
    else:
        typer.echo(f"ok: {revisions} revision logs, {facts} facts, every chain verifies")
    code = 1 if broken else 0
    if checkpoints is not None and public_key is not None:
        code = max(code, anchors.verify_against(settings, checkpoints, public_key))
    if code:
        raise typer.Exit(code)


def rebuild_projections() -> None:
    """Rebuild the per-revision projections (state, due time), the lists the scheduler and
    fan-outs read, and the revision totals per state, from the fact logs. Run it while the
    service is stopped: a running instance keeps the totals it had (docs/operations.md)."""
    count, states = asyncio.run(_rebuild(settings_from_env()))
    shown = ", ".join(f"{state} {n}" for state, n in sorted(states.items())) or "none"
    typer.echo(f"rebuilt {count} revision projections; revisions by state: {shown}")


def demo() -> None:
    """Play the seed scenario against the running stack and service."""
    from service.cli.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(settings_from_env(), read_seed(DEMO_KEY))))


def register(app: typer.Typer, audit: typer.Typer) -> None:
    app.command()(status)
    audit.command("verify")(audit_verify)
    audit.command("checkpoints")(anchors.audit_checkpoints)
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


async def _rebuild(settings: Settings) -> tuple[int, dict[str, int]]:
    count = 0
    states: Counter[str] = Counter()
    async with open_store(settings) as store:
        for packet_id in await store.packet_ids():
            packet = fold_packet(packet_id, await store.load_packet(packet_id))
            rows = [Projection.of(r) for r in packet.values()]
            await store.save_projections(rows)
            await store.note_written(rows)
            states.update(r.state.value for r in packet.values() if r.state)
            count += len(packet)
        await store.rebuild_counts(dict(states))
    return count, dict(states)
