"""SIGTERM during a saturated stream: the instance finishes and commits what it holds, exits
within its grace, and whatever it had taken but not committed is redelivered to the next
instance and recognised (a duplicate, never a second decision)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.builders import new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

COUNT = 400
GRACE_SECONDS = 15


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    return {"SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}


def outcomes(log: Path, pids: set[str]) -> dict[str, int]:
    """How the instance's log says it handled each of these packets' packet-ready."""
    counted: dict[str, int] = {}
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        ours = entry.get("packet_id") in pids and entry.get("topic") == "packet-ready"
        if entry.get("message") == "processed" and ours:
            counted[entry["outcome"]] = counted.get(entry["outcome"], 0) + 1
    return counted


async def test_sigterm_mid_stream_drains_commits_and_loses_nothing(
    bus: Bus, service: ServiceProcess, prefix: str, governance_file: Path, tmp_path: Path
) -> None:
    batch = [packet(new_id("RP"), 1) for _ in range(COUNT)]
    for pkt in batch[: COUNT // 4]:
        await bus.send("packet-ready", pkt)
    pending = {f"{p['packet_id']}@r1:lifecycle:pending" for p in batch}
    await bus.wait_for("packet-lifecycle", lambda e: e["id"] in pending, count=20)
    stream = asyncio.create_task(_send(bus, batch[COUNT // 4 :]))
    await bus.wait_for("packet-lifecycle", lambda e: e["id"] in pending, count=COUNT // 3)
    loop = asyncio.get_running_loop()
    asked = loop.time()
    service.signal(15)  # SIGTERM, with a backlog still to decide
    backlog = COUNT - len(bus.matching("packet-lifecycle", lambda e: e["id"] in pending))
    assert service.proc is not None
    code = await asyncio.to_thread(_wait_or_kill, service, GRACE_SECONDS + 10)
    took = loop.time() - asked
    assert backlog > COUNT // 3, f"only {backlog} left at the SIGTERM: not mid-stream"
    assert (code, took < GRACE_SECONDS + 5) == (0, True), f"exit {code} after {took:.1f}s"
    said = service.log_path.read_text()
    assert said.index("release gate stopping") < said.index("release gate stopped")

    successor = ServiceProcess(tmp_path, prefix, governance_file, extra_env=service.env_extra())
    await successor.start()
    try:
        await stream
        await bus.wait_for(
            "packet-lifecycle", lambda e: e["id"] in pending, count=COUNT, within=120
        )
    finally:
        await successor.stop()
    pids = {p["packet_id"] for p in batch}
    first, second = outcomes(service.log_path, pids), outcomes(successor.log_path, pids)
    print(
        f"\n[sigterm] backlog {backlog} at SIGTERM; first instance {first}; successor {second};"
        f" exit {code} in {took:.1f}s"
    )
    decided = first.get("applied", 0) + second.get("applied", 0)
    assert decided == COUNT  # each revision created exactly once, across both instances
    assert len(bus.matching("packet-lifecycle", lambda e: e["id"] in pending)) >= COUNT


def _wait_or_kill(service: ServiceProcess, within: float) -> int:
    """The exit code, or a failure quoting the log's last lines: what it was still doing."""
    assert service.proc is not None
    try:
        return service.proc.wait(within)
    except subprocess.TimeoutExpired:
        service.proc.kill()
        service.proc.wait()
        tail = "\n".join(service.log_path.read_text().splitlines()[-40:])
        said = f"still running {within}s after SIGTERM; its log ends:\n{tail}"
        raise AssertionError(said) from None


async def _send(bus: Bus, batch: list[dict[str, object]]) -> None:
    for pkt in batch:
        await bus.send("packet-ready", pkt)  # type: ignore[arg-type]
