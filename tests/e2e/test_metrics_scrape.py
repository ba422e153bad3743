"""The KPI scrape (docs/contract.md): a scenario with known counts, then exact values from /metrics.

This module has its own service process (fresh counters) and skips the warm-up, whose
marker events would be counted too.
"""

import json
import time
from datetime import timedelta

import pytest

from tests.e2e.steps import (
    Samples,
    blocked,
    dead_letter,
    ready,
    refused,
    released,
    sample,
    scrape,
    settled,
    until_fact,
)
from tests.support.builders import (
    FAST_LANE,
    LANE,
    STRANGER_SEED,
    approval,
    feedback,
    forward,
    new_id,
    now,
    packet,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess


@pytest.fixture(scope="module")
def warm_up() -> bool:
    return False


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample_name, pairs), value in samples.items()
        if sample_name == name and all(dict(pairs).get(k) == v for k, v in labels.items())
    )


async def play_the_scenario(bus: Bus, service: ServiceProcess) -> None:
    """Five releases, three blocked forwards, two refused approvals, one correction and one
    dead letter, each awaited (and its reason checked) before the next."""
    # Five releases.
    releases = [packet(new_id("RP"), 1) for _ in range(5)]
    for pkt in releases:
        await ready(bus, pkt)
        await released(bus, pkt)
    # One revision left pending: a forward is blocked not-released, two approvals refused.
    waiting = packet(new_id("RP"), 1)
    await ready(bus, waiting)
    # Three blocked forwards, one per reason.
    outsider = await blocked(bus, forward(releases[0], ["exec:cro", "user:someone@partner"]))
    assert outsider["reason"] == "outside-audience"
    assert (await blocked(bus, forward(waiting, ["exec:cro"])))["reason"] == "not-released"
    unknown = forward(packet(new_id("RP"), 1), ["exec:cro"])
    assert (await blocked(bus, unknown))["reason"] == "unknown-packet"
    # Two approval refusals.
    assert (await refused(bus, approval(waiting, seed=STRANGER_SEED)))["reason"] == "bad-signature"
    start = now() + timedelta(hours=1)
    inverted = approval(waiting, valid_from=start, valid_until=start - timedelta(hours=1))
    assert (await refused(bus, inverted))["reason"] == "bad-window"
    # One correction.
    manifest_id = f"{releases[1]['packet_id']}@r1"
    note = feedback(manifest_id, "stale-state")
    await bus.send("review-feedback", note)
    # Once review-feedback is consumed, all five consumers have joined the group: no later
    # rebalance can redeliver (and so dead-letter and count twice) the bad record below.
    fact = await until_fact(service, releases[1]["packet_id"], "feedback")
    assert fact["reason"] == "stale-state"
    # One dead letter.
    dead_key = new_id("K")
    await bus.send_raw("packet-ready", b"{not json", key=dead_key)
    await dead_letter(bus, dead_key, "invalid-json")


# What play_the_scenario() must have counted, sample by sample (zeros included).
EXPECTED = {
    sample("release_gate_releases_total", lane=LANE): 5.0,
    sample("release_gate_releases_total", lane=FAST_LANE): 0.0,
    sample("release_gate_blocked_total", stage="forward", reason="outside-audience"): 1.0,
    sample("release_gate_blocked_total", stage="forward", reason="not-released"): 1.0,
    sample("release_gate_blocked_total", stage="forward", reason="unknown-packet"): 1.0,
    sample("release_gate_blocked_total", stage="forward", reason="superseded"): 0.0,
    sample("release_gate_blocked_total", stage="approval", reason="bad-signature"): 1.0,
    sample("release_gate_blocked_total", stage="approval", reason="bad-window"): 1.0,
    sample("release_gate_blocked_total", stage="approval", reason="not-pending"): 0.0,
    sample("release_gate_review_corrections_total", correction="stale-state"): 1.0,
    sample("release_gate_review_corrections_total", correction="other"): 0.0,
    sample(
        "release_gate_dead_letters_total",
        source_topic="packet-ready",
        error_kind="invalid-json",
    ): 1.0,
    sample("release_gate_ready_to_release_seconds_count"): 5.0,
    sample(
        "release_gate_transitions_total",
        from_state="none",
        to_state="pending",
        reason="packet-ready",
    ): 6.0,
    sample(
        "release_gate_transitions_total",
        from_state="pending",
        to_state="approved",
        reason="approved",
    ): 5.0,
    sample(
        "release_gate_transitions_total",
        from_state="approved",
        to_state="released",
        reason="released",
    ): 5.0,
    sample("release_gate_forwards_allowed_total", lane=LANE): 0.0,
}


def assert_nothing_else_was_counted(samples: Samples, span: float) -> None:
    """The totals over every label equal the scenario's; each of its five releases waited
    some time, and none longer than the scenario lasted (`span` seconds)."""
    assert total(samples, "release_gate_releases_total") == 5.0
    assert total(samples, "release_gate_blocked_total") == 5.0
    assert total(samples, "release_gate_blocked_total", stage="forward") == 3.0
    assert total(samples, "release_gate_blocked_total", stage="approval") == 2.0
    assert total(samples, "release_gate_review_corrections_total") == 1.0
    assert total(samples, "release_gate_dead_letters_total") == 1.0
    assert total(samples, "release_gate_transitions_total") == 16.0
    histogram = sample("release_gate_ready_to_release_seconds_bucket", le="+Inf")
    assert samples[histogram] == 5.0
    assert 0.0 < samples[sample("release_gate_ready_to_release_seconds_sum")] <= 5 * span


async def test_the_scrape_counts_exactly_what_the_scenario_did(
    bus: Bus, service: ServiceProcess
) -> None:
    started = time.monotonic()
    await play_the_scenario(bus, service)
    samples = await settled(service, EXPECTED)
    assert_nothing_else_was_counted(samples, time.monotonic() - started)


async def test_the_scrape_is_prometheus_text_with_every_kpi_family(service: ServiceProcess) -> None:
    response = await service.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {key[0] for key in await scrape(service)}
    for name in (
        "release_gate_releases_total",
        "release_gate_blocked_total",
        "release_gate_transitions_total",
        "release_gate_review_corrections_total",
        "release_gate_ready_to_release_seconds_count",
        "release_gate_dead_letters_total",
        "release_gate_outbox_pending",
    ):
        assert name in families, name
    assert json.loads((await service.get("/healthz")).text)["status"] == "alive"
