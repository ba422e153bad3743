"""Known metric names, and a small PromQL tokenizer that finds the metric names used."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry

from service.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = ROOT / "ops" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
DASHBOARD = ROOT / "ops" / "grafana" / "dashboards" / "release-gate.json"

SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}

# Words that may stand where a metric name could, but are PromQL syntax.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "inf",
    "nan",
}

_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_LABEL_LIST = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:]|\s*\()")
_DURATION_OR_NUMBER = re.compile(r"^(\d.*|0x[0-9a-f]+)$", re.IGNORECASE)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions,
    keywords, label names (inside braces or by/without/on/ignoring lists) or values."""
    text = _GRAFANA_VARIABLE.sub("5m", expr)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _RANGE.sub(" ", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group(1)
        if word.lower() in KEYWORDS or _DURATION_OR_NUMBER.match(word):
            continue
        names.add(word)
    return names


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a registry's families expose (with _total, _bucket, ... suffixes)."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def service_metric_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    return exposed_names(registry)


def faststream_metric_names() -> set[str]:
    # KafkaPrometheusMiddleware registers its families eagerly, in its constructor
    # (faststream/prometheus/container.py, MetricsContainer.__init__).
    registry = CollectorRegistry()
    KafkaPrometheusMiddleware(registry=registry)
    return exposed_names(registry)


def load_rule_groups(name: str) -> list[dict[str, Any]]:
    with (RULES_DIR / name).open() as f:
        groups: list[dict[str, Any]] = yaml.safe_load(f)["groups"]
    return groups


def rules(name: str) -> list[dict[str, Any]]:
    return [rule for group in load_rule_groups(name) for rule in group["rules"]]


def recording_rule_names() -> set[str]:
    return {rule["record"] for rule in rules("recording.yml")}
