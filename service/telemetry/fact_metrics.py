"""Business KPIs counted from the facts an instance appended (never from re-reads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.domain.facts import TRANSITION_KINDS, Fact
from service.domain.revision import Revision
from service.domain.times import parse_time
from service.telemetry.metrics import Metrics

INTAKE_BLOCKS = {"unknown-lane", "evidence-incomplete", "out-of-order"}


def count_facts(
    metrics: Metrics, facts: Sequence[Fact], packets: Mapping[str, Mapping[int, Revision]]
) -> None:
    for fact in facts:
        packet = packets.get(fact.packet_id, {})
        reason = fact.reason or ""
        if fact.kind in TRANSITION_KINDS and fact.to_state:
            metrics.transition(fact.from_state, fact.to_state, reason)
        if fact.kind == "created" and reason in INTAKE_BLOCKS:
            metrics.block("intake", reason)
        elif fact.kind == "superseded" and reason == "release-check-failed":
            metrics.block("release", str(fact.data.get("check", reason)))
        elif fact.kind == "released":
            _released(metrics, fact, packet.get(fact.revision))
        elif fact.kind == "refused":
            metrics.block("approval", reason)
        elif fact.kind == "forward-blocked":
            metrics.block("forward", reason)
        elif fact.kind == "forward-allowed":
            rev = packet.get(fact.revision)
            metrics.forwards_allowed.labels(lane=(rev and rev.lane_id) or "unknown").inc()
        elif fact.kind == "feedback":
            metrics.corrections.labels(correction=reason).inc()
        elif fact.kind == "dead-lettered":  # an early feedback whose manifest never came
            metrics.dead_letters.labels(source_topic="review-feedback", error_kind=reason).inc()


def _released(metrics: Metrics, fact: Fact, rev: Revision | None) -> None:
    manifest = fact.data["manifest"]
    metrics.releases.labels(lane=manifest["lane_id"]).inc()
    if rev is not None and rev.ready_at is not None:
        waited = parse_time(fact.at) - rev.ready_at
        metrics.ready_to_release.observe(max(waited.total_seconds(), 0.0))
