"""Tampering with the stored fact log is caught by `audit verify`, naming the broken fact.

This module has its own service and database: tampering here cannot break other modules.
"""

import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from tests.e2e.steps import packet_view, ready, released
from tests.support.builders import new_id, packet
from tests.support.bus import Bus
from tests.support.service import ROOT, ServiceProcess, free_port


@pytest.fixture(scope="module")
async def facts(service: ServiceProcess, prefix: str) -> AsyncIterator[Any]:
    """The module's fact collection, as tests/support/service.py names its database."""
    url = service.env.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    yield client[prefix.strip("-").replace("-", "_")]["facts"]
    await client.close()


async def released_packet(bus: Bus) -> str:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    await released(bus, pkt)
    return str(pkt["packet_id"])


async def test_an_edited_fact_makes_audit_verify_exit_1_naming_it(
    bus: Bus, service: ServiceProcess, facts: Any
) -> None:
    pid = await released_packet(bus)
    clean = service.cli("audit", "verify")
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("ok")

    target = f"{pid}@r1/2"  # the approval
    original = await facts.find_one({"_id": target})
    assert original is not None and original["kind"] == "approved"
    doctored = original["data"].replace("exec:general-counsel", "user:someone@partner")
    assert doctored != original["data"]
    await facts.update_one({"_id": target}, {"$set": {"data": doctored}})
    try:
        result = service.cli("audit", "verify")
        assert result.returncode == 1, result.stdout
        assert target in result.stderr
        assert "BROKEN" in result.stderr
        view = await packet_view(service, pid)
        assert view["revisions"][0]["chain"].startswith(f"broken at {target}")
    finally:
        await facts.replace_one({"_id": target}, original)
    again = service.cli("audit", "verify")
    assert again.returncode == 0, again.stderr


async def test_a_deleted_fact_makes_audit_verify_exit_1_naming_the_gap(
    bus: Bus, service: ServiceProcess, facts: Any
) -> None:
    pid = await released_packet(bus)
    target = f"{pid}@r1/2"
    original = await facts.find_one({"_id": target})
    assert original is not None
    await facts.delete_one({"_id": target})
    try:
        result = service.cli("audit", "verify")
        assert result.returncode == 1, result.stdout
        assert f"{pid}@r1/3" in result.stderr  # the first fact after the gap
    finally:
        await facts.insert_one(original)
    assert service.cli("audit", "verify").returncode == 0


async def test_audit_verify_without_a_reachable_store_is_an_error_not_a_broken_chain(
    service: ServiceProcess,
) -> None:
    """Exit 1 means "a chain is broken" to whatever alerts on it; an outage must differ."""
    env = {**service.env, "MONGODB_URL": f"mongodb://127.0.0.1:{free_port()}"}
    result = subprocess.run(
        [sys.executable, "-m", "service", "audit", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    tail = result.stderr.strip().splitlines()[-1:] or [""]
    assert result.returncode not in (0, 1), f"exit {result.returncode}: {tail[0][:300]}"
    assert "BROKEN" not in result.stderr
    assert "Traceback" not in result.stderr
