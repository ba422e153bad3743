"""The metrics module exports exactly the contract's names, types and labels."""

from __future__ import annotations

import math

import pytest
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from service.telemetry.metrics import (
    BLOCKED_REASONS,
    CORRECTIONS,
    DEAD_LETTER_KINDS,
    HANDLER_BUCKETS,
    INPUT_TOPICS,
    READY_TO_RELEASE_BUCKETS,
    REVISION_STATES,
    Metrics,
    logical_topic,
    render,
)

# attribute -> (family name as exposed, type, label names)
EXPECTED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # docs/contract.md KPIs
    "releases": ("release_gate_releases", "counter", ("lane",)),
    "blocked": ("release_gate_blocked", "counter", ("stage", "reason")),
    "transitions": (
        "release_gate_transitions",
        "counter",
        ("from_state", "to_state", "reason"),
    ),
    "corrections": ("release_gate_review_corrections", "counter", ("correction",)),
    "ready_to_release": ("release_gate_ready_to_release_seconds", "histogram", ()),
    "dead_letters": ("release_gate_dead_letters", "counter", ("source_topic", "error_kind")),
    "outbox_pending": ("release_gate_outbox_pending", "gauge", ()),
    # operational
    "forwards_allowed": ("release_gate_forwards_allowed", "counter", ("lane",)),
    "handler_seconds": ("release_gate_handler_seconds", "histogram", ("topic", "outcome")),
    "consumer_lag": ("release_gate_consumer_lag", "gauge", ("topic", "partition")),
    "committed_offset": (
        "release_gate_consumer_committed_offset",
        "gauge",
        ("topic", "partition"),
    ),
    "assignments": ("release_gate_consumer_assignments", "counter", ("topic",)),
    "revisions": ("release_gate_revisions", "gauge", ("state",)),
    "store_conflicts": ("release_gate_store_conflicts", "counter", ()),
    "infra_retries": ("release_gate_infra_retries", "counter", ("dependency",)),
    "ready": ("release_gate_ready", "gauge", ()),
    "governance_reloads": ("release_gate_governance_reloads", "counter", ("outcome",)),
    "scheduler_transitions": ("release_gate_scheduler_transitions", "counter", ("reason",)),
    "sign_in_failures": ("release_gate_sign_in_failures", "counter", ("status",)),
    "published_keys_trusted": ("release_gate_published_keys_trusted", "gauge", ()),
    "topic_partitions": ("release_gate_topic_partitions", "gauge", ("topic",)),
    "topic_replication": ("release_gate_topic_replication_factor", "gauge", ("topic",)),
    "parked_events": ("release_gate_parked_events", "gauge", ()),
    "parked_oldest_seconds": ("release_gate_parked_oldest_seconds", "gauge", ()),
    "checkpoints": ("release_gate_checkpoints", "counter", ("outcome",)),
    "checkpoint_pending": ("release_gate_checkpoint_pending_leaves", "gauge", ()),
}

PY_TYPES = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


def exercise_every_metric(m: Metrics) -> None:
    """Touch one child of every metric so each family has samples to inspect."""
    for attr, (_, kind, labels) in EXPECTED.items():
        metric = getattr(m, attr)
        child = metric.labels(**{name: "x" for name in labels}) if labels else metric
        if kind == "counter":
            child.inc()
        elif kind == "gauge":
            child.set(1)
        else:
            child.observe(0.5)


def families(registry: CollectorRegistry) -> dict[str, tuple[str, set[str]]]:
    """Family name -> (type, label names seen on its samples, `le` excluded)."""
    out: dict[str, tuple[str, set[str]]] = {}
    for family in registry.collect():
        names = {k for sample in family.samples for k in sample.labels if k != "le"}
        out[family.name] = (family.type, names)
    return out


def bucket_bounds(registry: CollectorRegistry, sample_name: str) -> list[float]:
    bounds = {
        float(sample.labels["le"])
        for family in text_string_to_metric_families(render(registry).decode())
        for sample in family.samples
        if sample.name == sample_name
    }
    return sorted(bounds)


def test_every_metric_is_an_attribute_of_the_declared_type(metrics: Metrics) -> None:
    for attr, (_, kind, _) in EXPECTED.items():
        assert isinstance(getattr(metrics, attr), PY_TYPES[kind]), attr


def test_the_registry_holds_exactly_the_declared_families_with_their_labels(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    exercise_every_metric(metrics)
    expected = {name: (kind, set(labels)) for name, kind, labels in EXPECTED.values()}
    assert families(registry) == expected


def test_label_names_are_exact_so_a_wrong_or_missing_label_is_refused(metrics: Metrics) -> None:
    for attr, (_, _, labels) in EXPECTED.items():
        metric = getattr(metrics, attr)
        if not labels:
            with pytest.raises(ValueError):
                metric.labels(x="y")
            continue
        with pytest.raises(ValueError):
            metric.labels(**{name: "x" for name in labels[:-1]})
        with pytest.raises(ValueError):
            metric.labels(**{name: "x" for name in labels}, packet_id="RP-1")


def test_ready_to_release_buckets_span_seconds_to_two_weeks(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.ready_to_release.observe(42)
    bounds = bucket_bounds(registry, "release_gate_ready_to_release_seconds_bucket")
    assert bounds == [
        1,
        5,
        15,
        60,
        300,
        900,
        1800,
        3600,
        7200,
        14400,
        43200,
        86400,
        172800,
        345600,
        604800,
        1209600,
        math.inf,
    ]
    assert list(READY_TO_RELEASE_BUCKETS) == bounds[:-1]


def test_handler_buckets_are_millisecond_scale_up_to_five_seconds(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.handler_seconds.labels(topic="packet-ready", outcome="applied").observe(0.003)
    bounds = bucket_bounds(registry, "release_gate_handler_seconds_bucket")
    assert bounds[0] == 0.001
    assert bounds[-2] == 5.0
    assert bounds[-1] == math.inf
    assert list(HANDLER_BUCKETS) == bounds[:-1]


def test_rendering_names_every_metric(metrics: Metrics, registry: CollectorRegistry) -> None:
    exercise_every_metric(metrics)
    text = render(registry).decode()
    for name, kind, _ in EXPECTED.values():
        if kind == "counter":
            assert f"\n{name}_total{{" in text or f"\n{name}_total " in text, name
        elif kind == "histogram":
            assert f"\n{name}_bucket{{" in text, name
            assert f"\n{name}_count" in text, name
        else:
            assert f"\n{name}{{" in text or f"\n{name} " in text, name
        suffix = "_total" if kind == "counter" else ""
        assert f"# TYPE {name}{suffix} {kind}\n" in text, name


def test_known_label_combinations_start_at_zero(registry: CollectorRegistry) -> None:
    Metrics(registry)
    value = registry.get_sample_value
    for correction in CORRECTIONS:
        assert value("release_gate_review_corrections_total", {"correction": correction}) == 0
    for stage, reasons in BLOCKED_REASONS.items():
        for reason in reasons:
            assert value("release_gate_blocked_total", {"stage": stage, "reason": reason}) == 0
    for topic in INPUT_TOPICS:
        for kind in DEAD_LETTER_KINDS:
            labels = {"source_topic": topic, "error_kind": kind}
            assert value("release_gate_dead_letters_total", labels) == 0
    for state in REVISION_STATES:
        assert value("release_gate_revisions", {"state": state}) == 0
    for dependency in ("kafka", "store"):
        assert value("release_gate_infra_retries_total", {"dependency": dependency}) == 0
    for outcome in ("applied", "refused"):
        assert value("release_gate_governance_reloads_total", {"outcome": outcome}) == 0


def test_the_zero_initialised_sets_cover_the_contract_vocabulary() -> None:
    assert set(CORRECTIONS) == {
        "missing-blocked-terms",
        "wrong-audience",
        "stale-state",
        "manifest-mismatch",
        "other",
    }
    assert set(BLOCKED_REASONS) == {"intake", "approval", "release", "forward"}
    assert set(BLOCKED_REASONS["forward"]) == {
        "outside-audience",
        "not-released",
        "superseded",
        "expired",
        "unknown-packet",
        "revision-mismatch",
        "manifest-mismatch",
    }
    assert {
        "bad-signature",
        "not-release-owner",
        "self-approval",
        "unknown-revision",
        "not-pending",
        "hash-mismatch",
        "lane-mismatch",
        "audience-out-of-scope",
        "bad-window",
    } <= set(BLOCKED_REASONS["approval"])
    assert {"unknown-lane", "evidence-incomplete", "out-of-order"} <= set(BLOCKED_REASONS["intake"])
    assert {
        "invalid-json",
        "not-a-cloudevent",
        "unknown-type",
        "unsupported-schema-version",
        "invalid-data",
        "too-large",
        "hash-mismatch",
        "revision-conflict",
    } <= set(DEAD_LETTER_KINDS)
    assert set(REVISION_STATES) == {
        "pending",
        "approved",
        "released",
        "expired",
        "superseded",
        "rejected",
    }


def test_transitions_start_at_zero_and_no_previous_state_is_counted_as_none(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    name = "release_gate_transitions_total"
    created = {"from_state": "none", "to_state": "pending", "reason": "packet-ready"}
    approved = {"from_state": "pending", "to_state": "approved", "reason": "approved"}
    assert registry.get_sample_value(name, created) == 0  # rate() then sees the first one
    metrics.transition(None, "pending", "packet-ready")
    metrics.transition("pending", "approved", "approved")
    assert registry.get_sample_value(name, created) == 1
    assert registry.get_sample_value(name, approved) == 1


def test_block_counts_a_refusal_under_its_stage_and_reason(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.block("forward", "outside-audience")
    metrics.block("forward", "outside-audience")
    labels = {"stage": "forward", "reason": "outside-audience"}
    assert registry.get_sample_value("release_gate_blocked_total", labels) == 2


def test_lanes_from_governance_are_zero_initialised(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.init_lanes(["exec-customer-review"])
    labels = {"lane": "exec-customer-review"}
    assert registry.get_sample_value("release_gate_releases_total", labels) == 0
    assert registry.get_sample_value("release_gate_forwards_allowed_total", labels) == 0


def test_partition_position_sets_lag_and_committed_offset(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.set_partition_position("packet-ready", 3, high_watermark=120, committed=100)
    labels = {"topic": "packet-ready", "partition": "3"}
    assert registry.get_sample_value("release_gate_consumer_lag", labels) == 20
    assert registry.get_sample_value("release_gate_consumer_committed_offset", labels) == 100
    # a watermark read before the commit landed never shows negative lag
    metrics.set_partition_position("packet-ready", 3, high_watermark=99, committed=100)
    assert registry.get_sample_value("release_gate_consumer_lag", labels) == 0


def test_topic_labels_drop_the_deployment_prefix() -> None:
    assert logical_topic("staging.packet-ready", "staging.") == "packet-ready"
    assert logical_topic("packet-ready", "") == "packet-ready"
    assert logical_topic("other.packet-ready", "staging.") == "other.packet-ready"


def test_metrics_use_only_the_injected_registry() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Metrics(first).ready.set(1)
    Metrics(second).ready.set(0)  # a second instance does not collide: nothing global
    assert first.get_sample_value("release_gate_ready") == 1
    assert second.get_sample_value("release_gate_ready") == 0
    assert REGISTRY.get_sample_value("release_gate_ready") is None


def test_faststream_middleware_shares_the_registry_without_name_clashes(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    KafkaPrometheusMiddleware(registry=registry)
    names = set(families(registry))
    assert "faststream_received_messages" in names
    assert {name for name, _, _ in EXPECTED.values()} <= names
