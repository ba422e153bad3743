"""The Grafana dashboard loads and asks only for series that something actually exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.unit.ops.promql import (
    DASHBOARD,
    ROOT,
    faststream_metric_names,
    metric_names,
    recording_rule_names,
    rules,
    service_metric_names,
)

GRAFANA = ROOT / "ops" / "grafana"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    with DASHBOARD.open() as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in all_panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]


def known_names() -> set[str]:
    return service_metric_names() | faststream_metric_names() | recording_rule_names() | {"up"}


def test_the_dashboard_is_a_provisionable_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "release-gate"
    assert dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    ids = [panel["id"] for panel in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    for panel in all_panels(dashboard["panels"]):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "prometheus"


def test_every_panel_query_names_only_exported_or_recorded_series(
    dashboard: dict[str, Any],
) -> None:
    known = known_names()
    unknown = {
        (title, name)
        for title, expr in exprs(dashboard)
        for name in metric_names(expr)
        if name not in known
    }
    assert not unknown


def test_template_variables_query_exported_series(dashboard: dict[str, Any]) -> None:
    known = known_names()
    for variable in dashboard["templating"]["list"]:
        query = variable["query"]["query"]
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
        assert match, query
        assert metric_names(match.group(1)) <= known


def test_every_kpi_and_health_signal_has_a_panel(dashboard: dict[str, Any]) -> None:
    used = {name for _, expr in exprs(dashboard) for name in metric_names(expr)}
    # A series counts as shown when a panel uses it or a recording rule built from it.
    for rule in rules("recording.yml"):
        if rule["record"] in used:
            used |= metric_names(rule["expr"])
    families = {
        "release_gate_releases_total",
        "release_gate_blocked_total",
        "release_gate_transitions_total",
        "release_gate_review_corrections_total",
        "release_gate_ready_to_release_seconds_bucket",
        "release_gate_dead_letters_total",
        "release_gate_outbox_pending",
        "release_gate_forwards_allowed_total",
        "release_gate_handler_seconds_bucket",
        "release_gate_consumer_lag",
        "release_gate_consumer_committed_offset",
        "release_gate_revisions",
        "release_gate_store_conflicts_total",
        "release_gate_infra_retries_total",
        "release_gate_ready",
        "release_gate_governance_reloads_total",
        "release_gate_scheduler_transitions_total",
        "faststream_received_messages_total",
        "faststream_received_processed_messages_exceptions_total",
        "faststream_received_processed_messages_duration_seconds_bucket",
        "faststream_published_messages_total",
    }
    assert families - used == set()


def test_the_four_kpi_recordings_are_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    used = {name for _, expr in exprs(dashboard) for name in metric_names(expr)}
    assert {
        "lane:release_gate_releases:rate5m",
        "stage_reason:release_gate_blocked:rate5m",
        "job:release_gate_ready_to_release_seconds:p50_1h",
        "job:release_gate_ready_to_release_seconds:p90_1h",
        "job:release_gate_ready_to_release_seconds:p99_1h",
        "correction:release_gate_review_corrections:rate1h",
    } <= used


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards_folder() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/release-gate.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_the_tokenizer_skips_functions_labels_keywords_and_grafana_variables() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (handler, le) (rate(a_bucket{instance=~"$instance",'
        ' status!="acked"}[$__rate_interval]))) > 1e3 and on (job) b:c:rate5m offset 5m'
        ' or up{job="release-gate"} == bool 0 unless without_me'
    )
    assert metric_names(expr) == {"a_bucket", "b:c:rate5m", "up", "without_me"}
