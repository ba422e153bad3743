"""The Prometheus rules use only exported series, follow naming rules and are all unit-tested."""

from __future__ import annotations

import re

import yaml

from tests.unit.ops.promql import (
    PROMETHEUS_DIR,
    faststream_metric_names,
    metric_names,
    recording_rule_names,
    rules,
    service_metric_names,
)

ALERTS = {
    "ReleaseGateConsumerLagHigh",
    "ReleaseGateConsumerStalled",
    "ReleaseGateDeadLetterSpike",
    "ReleaseGateOutboxBacklog",
    "ReleaseGateStaleStateCorrection",
    "ReleaseGateWrongAudienceCorrection",
    "ReleaseGateNotReady",
}


def promtool_tests_text() -> str:
    return "\n".join(p.read_text() for p in sorted((PROMETHEUS_DIR / "tests").glob("*.yml")))


def test_recording_rules_are_named_level_metric_operations() -> None:
    for name in recording_rule_names():
        assert re.fullmatch(r"[a-z_]+:release_gate_[a-z_]+:[a-z0-9_]+", name), name


def test_rules_select_only_series_the_service_or_faststream_export() -> None:
    known = service_metric_names() | faststream_metric_names() | {"up"}
    for rule in rules("recording.yml") + rules("alerts.yml"):
        assert metric_names(rule["expr"]) <= known, rule


def test_every_alert_has_a_duration_severity_and_runbook() -> None:
    alerts = rules("alerts.yml")
    assert {rule["alert"] for rule in alerts} == ALERTS
    for rule in alerts:
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"]
        assert annotations["runbook"] == f"docs/operations.md#alert-{rule['alert'].lower()}"


def test_every_rule_has_a_promtool_unit_test() -> None:
    text = promtool_tests_text()
    for name in recording_rule_names():
        assert f"expr: {name}\n" in text, name
    for alert in ALERTS:
        assert f"alertname: {alert}\n" in text, alert


def test_every_alert_is_tested_both_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    alert_tests = []
    for path in sorted((PROMETHEUS_DIR / "tests").glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        if any(rule_file.endswith("alerts.yml") for rule_file in document["rule_files"]):
            alert_tests.append(path.name)
            for test in document["tests"]:
                for case in test.get("alert_rule_test", []):
                    (firing if case["exp_alerts"] else silent).add(case["alertname"])
    assert alert_tests, "no promtool test file loads alerts.yml"
    assert firing == ALERTS
    assert silent == ALERTS


def test_prometheus_scrapes_the_service_and_loads_the_rules() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules/*.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "release-gate"
    assert job["metrics_path"] == "/metrics"
    assert job["scrape_interval"] == "15s"
    assert job["static_configs"] == [{"targets": ["release-gate:8080"]}]
