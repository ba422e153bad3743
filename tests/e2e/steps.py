"""Scenario steps the e2e modules share: drive the service as its users do, await outputs."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from service.contract.version2 import payload_model
from tests.support.builders import approval, evidence_changed, feedback, forward, new_id, packet
from tests.support.bus import Bus, Event
from tests.support.service import ServiceProcess

WITHIN = 30.0
Data = dict[str, Any]


def mid(pid: str, revision: int = 1) -> str:
    return f"{pid}@r{revision}"


def of_packet(pid: str, revision: int | None = None) -> Callable[[Event], bool]:
    """Matches output events about one packet (and one revision when given)."""

    def match(e: Event) -> bool:
        data = e["data"]
        return data.get("packet_id") == pid and (revision is None or data["revision"] == revision)

    return match


def distinct(bus: Bus, topic: str, pred: Callable[[Event], bool]) -> list[Event]:
    """Matching events with same-id re-emissions dropped, as docs/contract.md lets consumers do."""
    kept: dict[str, Event] = {}
    for event in bus.matching(topic, pred):
        kept.setdefault(event["id"], event)
    return list(kept.values())


def transitions(bus: Bus, pid: str, revision: int) -> list[tuple[Any, Any, Any]]:
    """The revision's lifecycle as (from_state, to_state, reason), one per distinct event."""
    return [
        (e["data"]["from_state"], e["data"]["to_state"], e["data"]["reason"])
        for e in distinct(bus, "packet-lifecycle", of_packet(pid, revision))
    ]


def copies(bus: Bus, topic: str, event_id: str) -> int:
    """How many times one event id was published (re-emissions included)."""
    return len(bus.matching(topic, lambda e: e["id"] == event_id))


def only_one(bus: Bus, topic: str, event_id: str) -> Event:
    """The one event with this id: any re-emission must be an exact copy (docs/contract.md)."""
    found = bus.matching(topic, lambda e: e["id"] == event_id)
    assert found, f"no {event_id} on {topic}"
    assert all(e == found[0] for e in found), f"{event_id} was published with different content"
    return found[0]


async def ready(bus: Bus, pkt: Data, key: str | None = None) -> Event:
    """Send packet-ready and await the revision's pending lifecycle event."""
    await bus.send("packet-ready", pkt, key=key)
    event = (
        await bus.wait_for(
            "packet-lifecycle", f"{mid(pkt['packet_id'], pkt['revision'])}:lifecycle:pending"
        )
    )[0]
    return event


async def released(bus: Bus, pkt: Data, **approve: Any) -> Event:
    """Approve a pending revision (window open now) and await its manifest."""
    await bus.send("approval-decision", approval(pkt, **approve))
    manifest = (
        await bus.wait_for("release-manifest", f"{mid(pkt['packet_id'], pkt['revision'])}:released")
    )[0]
    return manifest


async def ready_and_released(bus: Bus, pid: str | None = None, revision: int = 1) -> Data:
    pkt = packet(pid or new_id("RP"), revision)
    await ready(bus, pkt)
    await released(bus, pkt)
    return pkt


async def refused(bus: Bus, decision: Data, key: str | None = None) -> Data:
    """Send an approval decision expected to be refused; its lifecycle event's data."""
    event_id = await bus.send("approval-decision", decision, key=key)
    refusal = f"{mid(decision['packet_id'], decision['revision'])}:refused:{event_id}"
    event = (await bus.wait_for("packet-lifecycle", refusal))[0]
    return dict(event["data"])


async def lifecycle_event(bus: Bus, pid: str, revision: int, to_state: str) -> Data:
    event = (await bus.wait_for("packet-lifecycle", f"{mid(pid, revision)}:lifecycle:{to_state}"))[
        0
    ]
    return dict(event["data"])


async def forward_outcome(bus: Bus, request: Data, key: str | None = None) -> tuple[str, Data]:
    """Send a forward-request and await whichever outcome it gets: (topic, data)."""
    await bus.send("forward-request", request, key=key)
    rid = request["request_id"]
    topic, event = await bus.wait_for_first(
        {"forward-allowed": f"{rid}:allowed", "blocked-forward": f"{rid}:blocked"}
    )
    return topic, dict(event["data"])


async def blocked(bus: Bus, request: Data, key: str | None = None) -> Data:
    topic, data = await forward_outcome(bus, request, key)
    assert topic == "blocked-forward", f"expected a block, got {topic}: {data}"
    return data


async def marker(bus: Bus, topic: str, key: str) -> None:
    """Send an event with its own visible outcome on `topic` under record key `key` and await
    it: every event sent earlier on that partition has been processed once it arrives."""
    other = new_id("MK")
    if topic == "packet-ready":
        await ready(bus, packet(other, 1), key=key)
    elif topic == "approval-decision":
        await refused(bus, approval(packet(other, 1)), key=key)  # unknown-revision
    elif topic == "forward-request":
        await blocked(bus, forward(packet(other, 1), ["exec:cro"]), key=key)  # unknown-packet
    elif topic == "review-feedback":
        await bus.send("review-feedback", feedback(mid(other), "other"), key=key)
        await bus.wait_for(
            "dead-letter",
            lambda e: e["data"]["key"] == key and other.encode() in raw_bytes(e["data"]),
        )
    elif topic == "evidence-changed":
        ref = new_id("PREC")
        cites = [
            {"kind": "incident-impact", "ref": new_id("INC"), "version": "1"},
            {"kind": "contract", "ref": "MSA-NW-2023", "version": "3"},
            {"kind": "precedent", "ref": ref, "version": "1"},
        ]
        await ready(bus, packet(other, 1, evidence=cites))
        await bus.send("evidence-changed", evidence_changed("precedent", ref, "2"), key=key)
        await lifecycle_event(bus, other, 1, "superseded")
    else:
        raise ValueError(f"no marker for {topic}")


def dead_letters(bus: Bus, key: str, kind: str | None = None) -> list[Data]:
    return [
        dict(e["data"])
        for e in bus.matching("dead-letter", lambda e: e["data"]["key"] == key)
        if kind is None or e["data"]["error_kind"] == kind
    ]


async def dead_letter(bus: Bus, key: str, kind: str) -> Data:
    def match(e: Event) -> bool:
        return bool(e["data"]["key"] == key and e["data"]["error_kind"] == kind)

    event = (await bus.wait_for("dead-letter", match))[0]
    return dict(event["data"])


def raw_bytes(dead: Data) -> bytes:
    return base64.b64decode(dead["raw_value"], validate=True)


async def packet_view(service: ServiceProcess, pid: str) -> Data:
    response = await service.get(f"/packets/{pid}")
    assert response.status_code == 200, response.text
    view: Data = response.json()
    return view


async def states(service: ServiceProcess, pid: str) -> dict[int, str | None]:
    view = await packet_view(service, pid)
    return {r["revision"]: r["state"] for r in view["revisions"]}


def conforming(bus: Bus) -> list[str]:
    """Every output event seen so far checked against its published model; the problems."""
    problems = []
    for topic, event, _ in bus.seen:
        try:
            model = payload_model(topic, int(event["schemaversion"]))
            if model is None:
                raise ValueError(f"no schemaversion {event['schemaversion']} of {topic}")
            model.model_validate(event["data"])
        except ValueError as exc:
            problems.append(f"{topic} {event['id']}: {exc}")
    return problems


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(service: ServiceProcess) -> Samples:
    """GET /metrics, parsed with prometheus_client: {(sample name, sorted labels): value}."""
    response = await service.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def sample(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


async def settled(
    service: ServiceProcess, expected: dict[tuple[str, Any], float], within: float = WITHIN
) -> Samples:
    """Scrape until every expected sample has its value (counters move just after outputs
    are published), then return the scrape; fail with the differences if they never do."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        samples = await scrape(service)
        wrong = {k: (samples.get(k), v) for k, v in expected.items() if samples.get(k) != v}
        if not wrong:
            return samples
        if loop.time() > deadline:
            raise AssertionError(f"metrics never settled; (seen, expected): {wrong}")
        await asyncio.sleep(0.2)  # polling: a scrape has no event to await


async def until_fact(
    service: ServiceProcess, pid: str, kind: str, revision: int = 1, within: float = WITHIN
) -> Data:
    """Poll /packets until the revision's log holds a fact of `kind` (for inputs, such as
    review-feedback, that publish nothing), and return that fact."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        response = await service.get(f"/packets/{pid}")
        if response.status_code == 200:
            for rev in response.json()["revisions"]:
                found = [f for f in rev["facts"] if f["kind"] == kind]
                if rev["revision"] == revision and found:
                    return dict(found[0])
        if loop.time() > deadline:
            raise AssertionError(f"no {kind} fact on {pid}@r{revision} in {within}s")
        await asyncio.sleep(0.2)  # polling: the input has no output event to await


RELOADS = "release_gate_governance_reloads_total"


async def rewrite(service: ServiceProcess, path: Path, text: str, outcome: str) -> None:
    """Replace the governance file atomically and await the service's verdict on it."""
    key = sample(RELOADS, outcome=outcome)
    before = (await scrape(service))[key]
    staged = path.with_suffix(".staged")
    staged.write_text(text)
    os.replace(staged, path)
    await settled(service, {key: before + 1})
