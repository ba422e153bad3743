"""The stale-block KPI in a real Prometheus: the project's own rules, scraping the service.

Revisions superseded while pending, before any executive review, are exactly what the
second KPI names; a released revision superseded later is a withdrawal after review and is
counted apart (ops/prometheus/rules/recording.yml). Prometheus is Debian's, started here on
loopback with a one-second scrape and rule evaluation.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.steps import lifecycle_event, ready, released
from tests.support.builders import evidence_changed, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ROOT, ServiceProcess, free_port

RULES = ROOT / "ops" / "prometheus" / "rules" / "recording.yml"
STALE = "job:release_gate_blocked_stale:rate5m"
AFTER_RELEASE = "job:release_gate_withdrawn_after_release:rate5m"
BEFORE_REVIEW = "reason:release_gate_withdrawn_before_review:rate5m"


def config(target: str) -> str:
    return (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n  - job_name: release-gate\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )


@pytest.fixture(scope="module")
def warm_up() -> bool:
    """No warm-up: its evidence-changed marker supersedes a pending revision, which this
    module's KPI would count before the scenario starts."""
    return False


@pytest.fixture(scope="module")
async def prometheus(
    service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not on PATH (ops/prometheus/check.sh installs Debian's)"
    work = tmp_path_factory.mktemp("prometheus")
    (work / "prometheus.yml").write_text(config(f"127.0.0.1:{service.port}"))
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await until_up(url, proc, work / "prometheus.log")
        yield url
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)


async def until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(300):
            assert proc.poll() is None, f"prometheus exited; see {log}"
            try:
                if (await client.get(url + "/-/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)  # polling readiness: there is no event to await
    raise AssertionError(f"prometheus not ready; see {log}")


async def query(url: str, expr: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(url + "/api/v1/query", params={"query": expr})
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


async def until_present(url: str, expr: str, within: float = 30) -> list[dict[str, Any]]:
    """Query until the rule has a value at all (after the first scrapes and evaluations)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        found = await query(url, expr)
        if found:
            return found
        await asyncio.sleep(0.5)  # polling: Prometheus pushes nothing
    raise AssertionError(f"{expr} has no value after {within}s")


async def until_positive(
    url: str, expr: str, within: float = 60, labels: set[str] | None = None, label: str = ""
) -> list[dict[str, Any]]:
    """Query until the rule's value is above zero (rules run every second here); with
    `labels`, until a series is above zero for each of those values of `label`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        found = [r for r in await query(url, expr) if float(r["value"][1]) > 0]
        if found and (labels is None or labels <= {r["metric"].get(label) for r in found}):
            return found
        await asyncio.sleep(0.5)  # polling: Prometheus pushes nothing
    raise AssertionError(f"{expr} stayed at zero for {within}s: {await query(url, expr)}")


async def test_revisions_superseded_before_review_count_as_stale_blocks(
    bus: Bus, prometheus: str
) -> None:
    # The series exists, at zero, before anything happens (zero-initialised counters).
    [before] = await until_present(prometheus, STALE)
    assert float(before["value"][1]) == 0
    for _ in range(3):  # a newer revision supersedes a pending one
        pid = new_id("RP")
        await ready(bus, packet(pid, 1))
        await ready(bus, packet(pid, 2))
        await lifecycle_event(bus, pid, 1, "superseded")
    impact = new_id("INC")  # changed evidence supersedes a pending one
    pid = new_id("RP")
    await ready(bus, packet(pid, 1, impact=(impact, "1")))
    await bus.send("evidence-changed", evidence_changed("incident-impact", impact, "2"))
    await lifecycle_event(bus, pid, 1, "superseded")
    [stale] = await until_positive(prometheus, STALE)
    assert stale["metric"]["job"] == "release-gate"
    both = {"newer-revision", "evidence-changed"}
    found = await until_positive(prometheus, BEFORE_REVIEW, labels=both, label="reason")
    assert both <= {r["metric"]["reason"] for r in found}
    positive = [r for r in await query(prometheus, AFTER_RELEASE) if float(r["value"][1]) > 0]
    assert positive == []


async def test_a_released_revision_superseded_is_counted_apart_as_after_release(
    bus: Bus, prometheus: str
) -> None:
    impact = new_id("INC")
    pkt = packet(new_id("RP"), 1, impact=(impact, "1"))
    await ready(bus, pkt)
    await released(bus, pkt)
    await bus.send("evidence-changed", evidence_changed("incident-impact", impact, "2"))
    note = await lifecycle_event(bus, pkt["packet_id"], 1, "superseded")
    assert note["from_state"] == "released"
    [after] = await until_positive(prometheus, AFTER_RELEASE)
    assert after["metric"]["job"] == "release-gate"
