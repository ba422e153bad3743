"""/readyz: ready only once the store, the broker and every consumer's group join are."""

import signal
from pathlib import Path

import httpx
import pytest

from tests.e2e.steps import sample, settled
from tests.support.service import ServiceProcess


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    # Long enough that a second instance's HTTP server answers well before the frozen first
    # instance is dropped from the group.
    return {"SESSION_TIMEOUT_MS": "20000"}


TRUSTED = "exec-customer-review: user:dana.ortiz@support, exec-fast-review: user:dana.ortiz@support"


async def test_a_running_instance_reports_every_check_ok_and_warns_of_published_keys(
    service: ServiceProcess,
) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(service.url + "/readyz")
        metrics = (await client.get(service.url + "/metrics")).text
    assert response.status_code == 200
    # The test governance trusts the contract's published owner key: ready, but warned.
    assert response.json() == {
        "ready": True,
        "store": "ok",
        "kafka": "ok",
        "consumers": "ok",
        "warning-governance": f"trusts published test keys (anyone can sign as): {TRUSTED}",
    }
    assert "release_gate_published_keys_trusted 2.0" in metrics


async def test_an_instance_is_unready_until_its_consumers_have_joined_the_group(
    service: ServiceProcess,
    prefix: str,
    governance_file: Path,
    service_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"HEARTBEAT_INTERVAL_MS": "300", **service_env}
    second = ServiceProcess(tmp_path_factory.mktemp("svc2"), prefix, governance_file, env)
    # A frozen member neither leaves nor heartbeats: no join completes until it is dropped.
    service.signal(signal.SIGSTOP)
    try:
        second.launch()
        # Its first answer once start-up is done (before, /readyz says only `starting`).
        response = await second.readyz(60, lambda r: "starting" not in r.json())
        assert response.status_code == 503
        body = response.json()
        assert (body["ready"], body["store"], body["kafka"]) == (False, "ok", "ok")
        assert body["consumers"].startswith("joining the group: ")
        ready = await second.readyz(60, lambda r: r.status_code == 200)
        assert ready.json()["consumers"] == "ok"
    finally:
        # The first instance wakes as a zombie and rejoins on its own; this is the module's
        # last test, so nothing waits for that.
        service.signal(signal.SIGCONT)
        await second.stop()


async def test_each_topic_reports_its_partitions_and_replication(service: ServiceProcess) -> None:
    expected = {}
    for topic in ("packet-ready", "approval-decision", "release-manifest", "dead-letter"):
        expected[sample("release_gate_topic_partitions", topic=topic)] = 3.0
        expected[sample("release_gate_topic_replication_factor", topic=topic)] = 1.0
    await settled(service, expected)
