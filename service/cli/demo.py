"""`python -m service demo`: the seed scenario, played against the running stack and service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from service.adapters.kafka_clients import Event, Watcher, publish
from service.cli.decisions import build_decision, send_decision
from service.contract.envelope import make_event
from service.domain.canonical import manifest_id, option_set_hash, packet_hash
from service.settings import OUTPUT_TOPICS, Settings

OWNER = "user:dana.ortiz@support"
OPTIONS = [
    {
        "option_id": "capped-credit-and-recovery-engineering",
        "summary": "Service credit capped at 250k USD plus six weeks of recovery engineering",
        "credit_cap": {"amount": "250000.00", "currency": "USD"},
    },
    {
        "option_id": "credit-only-documented-impact",
        "summary": "Service credit tied to the documented outage impact only",
        "credit_cap": {"amount": "90000.00", "currency": "USD"},
    },
    {
        "option_id": "escalate-cro-legal-review",
        "summary": "Escalate to chief revenue officer and legal review",
        "credit_cap": None,
    },
]
BLOCKED = [
    {
        "term_id": "multi-quarter-fee-holiday",
        "description": "Waive platform fees for three quarters",
        "reason": "Open-ended commercial concession outside support authority",
    },
    {
        "term_id": "contract-rewrite",
        "description": "Rewrite the master services agreement",
        "reason": "Contract amendment belongs to legal, not to a recovery package",
    },
    {
        "term_id": "permanent-staffing-overlay",
        "description": "Permanent dedicated staffing overlay",
        "reason": "Open-ended service commitment",
    },
]


def packet(packet_id: str, revision: int, impact_ref: str, impact_version: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "packet_id": packet_id,
        "revision": revision,
        "lane_id": "exec-customer-review",
        "prepared_by": "user:lee.park@support",
        "title": "Identity-service outage recovery package — Northwind Traders",
        "options": OPTIONS,
        "blocked_requests": BLOCKED,
        "evidence_refs": [
            {"kind": "incident-impact", "ref": impact_ref, "version": impact_version},
            {"kind": "contract", "ref": "MSA-NW-2023", "version": "3"},
        ],
        "body": {"customer": "Northwind Traders", "affected_users": 41250, "draft": revision},
    }
    data["option_set_hash"] = option_set_hash(OPTIONS)
    data["packet_hash"] = packet_hash(data)
    return data


class Demo:
    def __init__(self, settings: Settings, seed: bytes) -> None:
        self.settings, self.seed = settings, seed
        run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self.packet_id, self.impact = f"RP-DEMO-{run}", f"INC-8812-{run}"
        self.watcher = Watcher(settings, list(OUTPUT_TOPICS))

    async def send(self, type_: str, event_id: str, subject: str, data: dict[str, Any]) -> None:
        event = make_event(
            type_, event_id, subject, datetime.now(UTC), data, source="urn:release-gate-demo"
        )
        key = f"{data['kind']}:{data['ref']}" if type_ == "evidence-changed" else self.packet_id
        await publish(self.settings, type_, key, event)

    async def expect(self, title: str, topic: str, event_id: str) -> Event:
        found = await self.watcher.wait(lambda t, e: t == topic and e["id"] == event_id)
        data = found[0]["data"]
        typer.echo(f"   <- {topic} {event_id}")
        for key in ("from_state", "to_state", "reason", "detail", "blocked_recipients"):
            if key in data and data[key] not in (None, []):
                typer.echo(f"        {key}: {data[key]}")
        return found[0]

    async def step(self, title: str) -> None:
        typer.echo(f"\n== {title}")


async def run_demo(settings: Settings, seed: bytes) -> int:
    demo = Demo(settings, seed)
    await demo.watcher.start()
    try:
        await play(demo)
    except TimeoutError as exc:
        typer.echo(f"\nno answer from the service ({exc}); is `make run` up?", err=True)
        return 1
    finally:
        await demo.watcher.stop()
    typer.echo(
        f"\nDone. Sign in at http://{settings.http_host}:{settings.http_port}/console to see"
        f" {demo.packet_id} (key: ops/governance/demo-keys/dana.ortiz.pem)"
    )
    return 0


async def play(demo: Demo) -> None:
    """The seed scenario in three acts: revisions and evidence, approval, forwards."""
    pid = demo.packet_id
    r3 = packet(pid, 3, demo.impact, "8")
    await revisions_meet_evidence(
        demo, packet(pid, 1, demo.impact, "7"), packet(pid, 2, demo.impact, "7"), r3
    )
    await owner_approves(demo, r3)
    await forwards_are_checked(demo)


async def revisions_meet_evidence(
    demo: Demo, r1: dict[str, Any], r2: dict[str, Any], r3: dict[str, Any]
) -> None:
    pid = demo.packet_id
    await demo.step(f"1. revision 1 of {pid} is ready")
    await demo.send("packet-ready", f"{pid}-r1", pid, r1)
    await demo.expect("", "packet-lifecycle", f"{pid}@r1:lifecycle:pending")
    await demo.step("2. revision 2 supersedes revision 1")
    await demo.send("packet-ready", f"{pid}-r2", pid, r2)
    await demo.expect("", "packet-lifecycle", f"{pid}@r1:lifecycle:superseded")
    await demo.expect("", "packet-lifecycle", f"{pid}@r2:lifecycle:pending")
    await demo.step(f"3. the impact estimate {demo.impact} hardens 7 -> 8: revision 2 is held")
    await demo.send(
        "evidence-changed",
        f"{demo.impact}-v8",
        demo.impact,
        {
            "kind": "incident-impact",
            "ref": demo.impact,
            "new_version": "8",
            "summary": "impact estimate hardened",
            "lane_id": None,
        },
    )
    await demo.expect("", "packet-lifecycle", f"{pid}@r2:lifecycle:superseded")
    await demo.step("4. revision 3 cites the new estimate")
    await demo.send("packet-ready", f"{pid}-r3", pid, r3)
    await demo.expect("", "packet-lifecycle", f"{pid}@r3:lifecycle:pending")


async def owner_approves(demo: Demo, r3: dict[str, Any]) -> None:
    pid, mid = demo.packet_id, manifest_id(demo.packet_id, 3)
    now = datetime.now(UTC).replace(microsecond=0)
    await demo.step("5. a forged approval (audience widened after signing) is refused")
    forged = build_decision(
        r3,
        "approve",
        OWNER,
        f"AD-{pid}-forged",
        demo.seed,
        ["exec:cro"],
        now,
        now + timedelta(days=3),
        None,
    )
    forged["audience"] = ["exec:cro", "user:someone@partner"]
    forged_id = await send_decision(demo.settings, forged, "urn:release-gate-demo")
    await demo.expect("", "packet-lifecycle", f"{pid}@r3:refused:{forged_id}")
    await demo.step(f"6. {OWNER} approves revision 3 for the CRO and general counsel")
    approval = build_decision(
        r3,
        "approve",
        OWNER,
        f"AD-{pid}",
        demo.seed,
        ["exec:cro", "exec:general-counsel"],
        now,
        now + timedelta(days=3),
        None,
    )
    await send_decision(demo.settings, approval, "urn:release-gate-demo")
    await demo.expect("", "packet-lifecycle", f"{pid}@r3:lifecycle:approved")
    manifest = await demo.expect("", "release-manifest", f"{mid}:released")
    data = manifest["data"]
    typer.echo(f"        audience: {data['audience']}  supersedes: {data['supersedes']}")
    typer.echo(f"        options: {[o['option_id'] for o in data['options']]}")
    typer.echo(
        f"        blocked requests kept visible: {[b['term_id'] for b in data['blocked_requests']]}"
    )
    typer.echo(f"        manifest_hash: {data['manifest_hash']}")


async def forwards_are_checked(demo: Demo) -> None:
    pid = demo.packet_id
    await demo.step("7. the CRO forwards it to the general counsel: allowed")
    await forward(demo, "FR-1", ["exec:general-counsel"])
    await demo.expect("", "forward-allowed", f"{pid}-FR-1:allowed")
    await demo.step("8. the CRO forwards it to an outside address: blocked whole, audited")
    await forward(demo, "FR-2", ["exec:general-counsel", "user:someone@partner"])
    await demo.expect("", "blocked-forward", f"{pid}-FR-2:blocked")


async def forward(demo: Demo, suffix: str, recipients: list[str]) -> None:
    pid = demo.packet_id
    data = {
        "request_id": f"{pid}-{suffix}",
        "packet_id": pid,
        "revision": 3,
        "manifest_id": manifest_id(pid, 3),
        "requested_by": "exec:cro",
        "recipients": recipients,
        "channel": "email",
    }
    await demo.send("forward-request", f"{pid}-{suffix}", pid, data)
