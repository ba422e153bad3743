"""Checks over everything the attack modules did; conftest.py runs this module last.

No attacked packet ever got a manifest or an approval, every audit chain verifies, every
refusal and dead letter was counted, and the service logs hold neither a private key seed
nor a packet body. The last test stops both services, so their logs are complete.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.security.attacks import (
    BODY_MARKER,
    SEEDS,
    dead_lettered,
    marked_packet,
    raw_event,
    ready,
)
from tests.support.builders import approval, new_id
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


@pytest.fixture
def gates(
    service: ServiceProcess, bus: Bus, tight_service: ServiceProcess, tight_bus: Bus
) -> list[tuple[ServiceProcess, Bus]]:
    return [(service, bus), (tight_service, tight_bus)]


@pytest.fixture
def attacks_ran(attacked: set[str]) -> set[str]:
    if not attacked:
        pytest.fail("no attack ran in this session: run tests/security as a whole")
    return attacked


async def _release_a_sentinel(bus: Bus) -> None:
    """A good release now: the path to manifests is open, so silence about attacks means no."""
    pkt = marked_packet(new_id("RP"))
    await ready(bus, pkt)
    await bus.send("approval-decision", approval(pkt), event_id=new_id("evt"))
    await bus.wait_for("release-manifest", f"{pkt['packet_id']}@r1:released")


async def _view(service: ServiceProcess, packet_id: str) -> dict[str, Any] | None:
    response = await service.get(f"/packets/{packet_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def test_no_attacked_packet_was_ever_approved_or_released(
    gates: list[tuple[ServiceProcess, Bus]], attacks_ran: set[str]
) -> None:
    await asyncio.gather(*(_release_a_sentinel(bus) for _, bus in gates))
    for _, bus in gates:
        leaked = bus.matching("release-manifest", lambda e: e["data"]["packet_id"] in attacks_ran)
        assert leaked == [], [e["id"] for e in leaked]
    views = await asyncio.gather(
        *(_view(service, pid) for service, _ in gates for pid in sorted(attacks_ran))
    )
    for view in filter(None, views):
        for rev in view["revisions"]:
            where = (view["packet_id"], rev["revision"])
            assert rev["chain"] == "ok", (where, rev["chain"])
            assert rev["state"] in (None, "pending", "rejected", "superseded"), (
                where,
                rev["state"],
            )
            kinds = {fact["kind"] for fact in rev["facts"]}
            assert not kinds & {"approved", "released"}, (where, kinds)


def _samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _seen(bus: Bus) -> Counter[tuple[str, ...]]:
    """Each refusal, blocked forward and dead letter on the bus, once per event id."""

    def distinct(topic: str) -> list[dict[str, Any]]:
        return list({e["id"]: e for e in bus.matching(topic, bool)}.values())

    seen: Counter[tuple[str, ...]] = Counter()
    for e in distinct("packet-lifecycle"):
        if e["data"]["from_state"] == e["data"]["to_state"]:
            seen["approval", e["data"]["reason"]] += 1
    for e in distinct("blocked-forward"):
        seen["forward", e["data"]["reason"]] += 1
    for e in distinct("dead-letter"):
        seen["dead-letter", e["data"]["source_topic"], e["data"]["error_kind"]] += 1
    return seen


def _counted(text: str) -> Counter[tuple[str, ...]]:
    """The same, as the service's counters tell it (zero-initialised series left out)."""
    counted: Counter[tuple[str, ...]] = Counter()
    for labels, value in _samples(text, "release_gate_blocked_total").items():
        stage, reason = dict(labels)["stage"], dict(labels)["reason"]
        if stage in ("approval", "forward") and value:
            counted[stage, reason] = int(value)
    for labels, value in _samples(text, "release_gate_dead_letters_total").items():
        if value:
            counted["dead-letter", dict(labels)["source_topic"], dict(labels)["error_kind"]] = int(
                value
            )
    return counted


async def test_every_refusal_and_dead_letter_seen_on_the_bus_was_counted_once(
    gates: list[tuple[ServiceProcess, Bus]], attacks_ran: set[str]
) -> None:
    kinds: set[str] = set()
    for service, bus in gates:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:  # a counter moves just after its event is published: poll the scrape
            seen, counted = _seen(bus), _counted((await service.get("/metrics")).text)
            if seen == counted or loop.time() > deadline:
                break
            await asyncio.sleep(0.2)
        assert counted == seen, (service.url, counted - seen, seen - counted)
        assert any(key[0] == "dead-letter" for key in seen), (service.url, seen)
        kinds |= {key[0] for key in seen}
    assert kinds == {"approval", "forward", "dead-letter"}, kinds  # the attacks hit all three


async def test_a_double_encoded_body_is_dead_lettered_without_echoing_it_into_the_logs(
    service: ServiceProcess, bus: Bus, attacked: set[str]
) -> None:
    """A producer bug sends `body` as a JSON string: its content must stay out of the logs."""
    marker = f"ssn-{uuid.uuid4().hex[:12]}"
    pkt = marked_packet(new_id("RP"))
    pid = pkt["packet_id"]
    attacked.add(pid)
    value = raw_event(
        "packet-ready", {**pkt, "body": json.dumps({"ssn": marker, "customer": "Northwind"})}, pid
    )
    where, _ = await dead_lettered(bus, "packet-ready", value, pid, "invalid-data", "data.body")
    assert (await ready(bus, pkt)).partition == where.partition
    log = service.log_path.read_text(errors="replace")
    leaks = [line[line.find('"detail"') :][:160] for line in log.splitlines() if marker in line]
    assert leaks == [], leaks


async def test_the_service_logs_hold_no_private_key_seed_and_no_packet_body(
    gates: list[tuple[ServiceProcess, Bus]], attacks_ran: set[str]
) -> None:
    await asyncio.gather(*(service.stop() for service, _ in gates))  # flushed and complete
    secrets = {BODY_MARKER: "a packet body"}
    for who, seed in SEEDS.items():
        secrets[base64.b64encode(seed).decode()] = f"the {who}'s seed (base64)"
        secrets[base64.urlsafe_b64encode(seed).decode()] = f"the {who}'s seed (base64url)"
        secrets[seed.hex()] = f"the {who}'s seed (hex)"
    logs = {service.log_path: service.log_path.read_text(errors="replace") for service, _ in gates}
    assert any('"dead-lettered"' in log for log in logs.values()), "not the attacked services' logs"
    for path, log in logs.items():
        assert "release gate started" in log, f"{path} is not a service log"
        found = {what for secret, what in secrets.items() if secret in log}
        assert found == set(), f"{path} holds {sorted(found)}"
