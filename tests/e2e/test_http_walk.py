"""Nothing walks around the gate over HTTP: every route the app mounts, with every method,
without a session, against the running service.

Only the probes, the metrics, the AsyncAPI JSON, the gate's public key and the latest audit
checkpoint (digests only) answer 2xx (and the sign-in page with its own script and style,
which carry no packet content); no answer carries packet content; nothing is published to
any topic but the gate's own checkpoints; and afterwards the service still decides a fresh
packet.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from aiokafka import TopicPartition

from service.console.pages import Console
from service.entrypoints.http import HttpSide, route_table
from service.settings import INPUT_TOPICS, OUTPUT_TOPICS
from tests.e2e.conftest import BOOTSTRAP
from tests.e2e.steps import ready, released
from tests.support import kafka
from tests.support.builders import new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# /audit/checkpoint: the latest signed checkpoint, digests only (docs/security.md).
OPEN = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/asyncapi.json",
    "/.well-known/release-gate/gate-key",
    "/audit/checkpoint",
}
SIGN_IN = {
    "/console",
    "/console/static/console.js",
    "/console/static/jcs.js",
    "/console/static/console.css",
}
# Paths a library might mount by default, and tricks on ours.
PROBES = [
    "/asyncapi",
    "/asyncapi/try",
    "/asyncapi.html",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/console/static/../../README.md",
    "/console/static/x.js",
    "/packets/",
    "/session/x",
]


def mounted() -> list[tuple[str, set[str]]]:
    """(path template, methods) of every route the service's HTTP app mounts."""
    side = HttpSide(lambda: None, None, None, lambda: b"")  # type: ignore[arg-type,return-value]
    console = Console.build(lambda: None, lambda: None, None)  # type: ignore[arg-type,return-value]
    return [(route.path, set(route.methods or ())) for route in route_table(side, console)]


def concrete(template: str, pid: str) -> str:
    return template.replace("{packet_id}", pid).replace("{revision:int}", "1")


def content_of(pkt: dict[str, Any]) -> list[str]:
    return [
        pkt["title"],
        *(o["option_id"] for o in pkt["options"]),
        *(b["term_id"] for b in pkt["blocked_requests"]),
        pkt["packet_hash"],
    ]


def try_it_out(prefix: str) -> bytes:
    """What FastStream's AsyncAPI "try it out" handler takes to publish a forged manifest,
    sent to every route: were such a handler mounted anywhere, the forgery would show."""
    forged = {
        "channelName": f"{prefix}release-manifest",
        "message": {"forged": True},
        "options": {"sendToRealBroker": True},
    }
    return json.dumps(forged).encode()


async def walk(service: ServiceProcess, pid: str, prefix: str) -> list[tuple[str, str, int, str]]:
    answers = []
    paths = sorted({concrete(t, pid) for t, _ in mounted()} | set(PROBES))
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        for path in paths:
            for method in METHODS:
                answer = await client.request(method, path, content=try_it_out(prefix))
                answers.append((method, path, answer.status_code, answer.text))
    return answers


async def test_no_request_without_a_session_shows_content_publishes_or_stops_the_gate(
    bus: Bus, service: ServiceProcess, prefix: str
) -> None:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    await released(bus, pkt)
    await bus.wait_for("audit-checkpoint", lambda e: True)  # so GET /audit/checkpoint is 200
    topics = [prefix + t for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
    async with kafka.admin(BOOTSTRAP) as admin:
        described = await admin.describe_topics(topics)
    parts = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    async with kafka.consumer(BOOTSTRAP) as watcher:
        assert len(parts) == 3 * len(topics)
        watcher.assign(parts)
        await watcher.seek_to_end(*parts)
        starts = {tp: await watcher.position(tp) for tp in parts}

        answers = await walk(service, pkt["packet_id"], prefix)
        assert len(mounted()) >= 15 and len(answers) > 150

        fresh = packet(new_id("RP"), 1)  # the gate still decides, end to end
        await ready(bus, fresh)
        await released(bus, fresh)
        ends = await watcher.end_offsets(parts)
        moved = [tp.topic for tp in parts if ends[tp] > starts[tp]]
        seen = await watcher.getmany(*parts, timeout_ms=5000, max_records=10_000)
    # The gate's own checkpoints come on their timer, keyed by its chain: not the walk's doing.
    checkpoints = prefix + "audit-checkpoint"
    keys = {r.key for tp, records in seen.items() if tp.topic != checkpoints for r in records}
    assert keys == {fresh["packet_id"].encode()}, f"records other than the fresh packet's: {keys}"
    assert set(moved) <= {
        prefix + t
        for t in (
            "packet-ready",
            "approval-decision",
            "release-manifest",
            "packet-lifecycle",
            "audit-checkpoint",
        )
    }

    succeeded = {(m, p) for m, p, status, _ in answers if 200 <= status < 300}
    allowed = {(m, p) for m in ("GET", "HEAD") for p in OPEN | SIGN_IN}
    assert succeeded <= allowed, sorted(succeeded - allowed)
    assert {("GET", p) for p in OPEN} <= succeeded
    leaks = [(m, p) for m, p, _, text in answers for c in content_of(pkt) if c in text]
    assert leaks == []
