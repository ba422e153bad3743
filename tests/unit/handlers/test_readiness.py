"""Readiness waits for every consumer's first group join, and for failing dependencies."""

from prometheus_client import CollectorRegistry

from service.telemetry.health import Health
from service.telemetry.metrics import Metrics


def ready_gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("release_gate_ready")


async def test_the_instance_is_ready_only_once_every_consumer_has_joined_its_group() -> None:
    registry = CollectorRegistry()
    health = Health(Metrics(registry), consumers=("packet-ready", "approval-decision"))
    health.recover()
    assert health.joining() == ["packet-ready", "approval-decision"]
    assert ready_gauge(registry) == 0
    await health.listener("approval-decision").on_partitions_assigned(set())
    assert health.joining() == ["packet-ready"]
    assert ready_gauge(registry) == 0
    await health.listener("packet-ready").on_partitions_assigned(set())
    assert health.joining() == []
    assert ready_gauge(registry) == 1


async def test_a_failing_dependency_keeps_a_joined_instance_unready_until_it_recovers() -> None:
    registry = CollectorRegistry()
    health = Health(Metrics(registry), consumers=("packet-ready",))
    await health.listener("packet-ready").on_partitions_assigned(set())
    health.fail("store", ConnectionError("refused"))
    await health.listener("packet-ready").on_partitions_assigned(set())  # a later rebalance
    assert ready_gauge(registry) == 0
    health.recover("store")
    assert ready_gauge(registry) == 1
