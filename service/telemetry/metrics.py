"""Prometheus metrics of the release gate: the KPIs of docs/contract.md plus operational health."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.contract.errors import ErrorKind
from service.domain.states import TRANSITIONS, RevisionState
from service.domain.vocab import BlockedReason, Correction

# Label values known up front. Only these bounded sets (and lane ids from the governance
# file, and logical topic names) ever become label values: never packet or event ids.

Stage = Literal["intake", "approval", "release", "forward"]
BLOCKED_STAGES: tuple[Stage, ...] = ("intake", "approval", "release", "forward")

# Reasons per stage, zero-initialised so rate()/increase() see the first occurrence and
# dashboards show flat lines instead of gaps. Other reasons still count (lazily); these
# are the ones the domain produces today.
BLOCKED_REASONS: Mapping[Stage, tuple[str, ...]] = {
    "intake": (
        "unknown-lane",
        "evidence-incomplete",
        "out-of-order",
        "hash-mismatch",
        "revision-conflict",
    ),
    "approval": (
        "bad-signature",
        "not-release-owner",
        "self-approval",
        "unknown-revision",
        "not-pending",
        "hash-mismatch",
        "lane-mismatch",
        "audience-out-of-scope",
        "bad-window",
        "decision-reused",
    ),
    # The reason of a failed release-time re-check (service/domain/approval.recheck_release).
    "release": (
        "unknown-lane",
        "not-release-owner",
        "bad-signature",
        "audience-out-of-scope",
        "bad-window",
    ),
    "forward": get_args(BlockedReason),
}

CORRECTIONS: tuple[str, ...] = get_args(Correction)

INPUT_TOPICS: tuple[str, ...] = (
    "packet-ready",
    "approval-decision",
    "evidence-changed",
    "forward-request",
    "review-feedback",
)

DEAD_LETTER_KINDS: tuple[str, ...] = tuple(kind.value for kind in ErrorKind)

HANDLER_OUTCOMES: tuple[str, ...] = ("applied", "duplicate", "refused", "dead-lettered", "retried")

REVISION_STATES: tuple[str, ...] = tuple(state.value for state in RevisionState)
NO_STATE = "none"
# Every move of the lifecycle table, zero from the start: rate() and increase() see a
# series' first increment only if the series existed before it (the stale-block KPI and
# the withdrawn-after-release rule in ops/prometheus/rules/recording.yml read these).
TRANSITION_SERIES: tuple[tuple[str, str, str], ...] = tuple(
    (a.value if a else NO_STATE, b.value, reason)
    for (a, b), reasons in TRANSITIONS.items()
    for reason in sorted(reasons)
)

INFRA_DEPENDENCIES: tuple[str, ...] = ("kafka", "store")

GOVERNANCE_RELOAD_OUTCOMES: tuple[str, ...] = ("applied", "refused")
CHECKPOINT_OUTCOMES: tuple[str, ...] = ("published", "failed")

# Packet-ready -> manifest published: seconds (valid_from already passed) up to the
# longest pending window (max_pending, e.g. P14D).
READY_TO_RELEASE_BUCKETS: tuple[float, ...] = (
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
)

# One message through validate -> load -> decide -> append -> publish: a few store round
# trips of a few hundred microseconds each, up to broker/store timeouts.
HANDLER_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


def logical_topic(topic: str, prefix: str) -> str:
    """The contract's topic name without the deployment's TOPIC_PREFIX (bounded labels)."""
    if prefix and topic.startswith(prefix):
        return topic[len(prefix) :]
    return topic


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text exposition format, for GET /metrics."""
    return generate_latest(registry)


class Metrics:
    """Every metric the service exports, registered on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._register_kpis()
        self._register_consumers()
        self._register_health()
        self._zero_initialise()

    def _register_kpis(self) -> None:
        """The business KPIs: names fixed by docs/contract.md (HTTP, metrics, settings)."""
        self.releases = Counter(
            "release_gate_releases_total",
            "Release manifests published (exact-match releases), by lane.",
            ["lane"],
            registry=self.registry,
        )
        self.blocked = Counter(
            "release_gate_blocked_total",
            "Things the gate refused, by stage (intake|approval|release|forward) and reason.",
            ["stage", "reason"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "release_gate_transitions_total",
            "Revision state changes; from_state is 'none' when there was no state before.",
            ["from_state", "to_state", "reason"],
            registry=self.registry,
        )
        self.corrections = Counter(
            "release_gate_review_corrections_total",
            "Reviewer corrections reported on released packets, by correction kind.",
            ["correction"],
            registry=self.registry,
        )
        self.ready_to_release = Histogram(
            "release_gate_ready_to_release_seconds",
            "Time from packet-ready to the release manifest being published.",
            buckets=READY_TO_RELEASE_BUCKETS,
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "release_gate_dead_letters_total",
            "Input messages recorded in dead-letter, by logical source topic and error kind.",
            ["source_topic", "error_kind"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "release_gate_outbox_pending",
            "Facts appended to the log whose output events are not yet published.",
            registry=self.registry,
        )

    def _register_consumers(self) -> None:
        """How the consumers keep up: time per message, lag, committed offsets."""
        self.handler_seconds = Histogram(
            "release_gate_handler_seconds",
            "Time to handle one input message, by logical topic and outcome.",
            ["topic", "outcome"],
            buckets=HANDLER_BUCKETS,
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "release_gate_consumer_lag",
            "Messages behind: partition high watermark minus the group's committed offset.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.committed_offset = Gauge(
            "release_gate_consumer_committed_offset",
            "The consumer group's committed offset (stalled = lag > 0 and this not moving).",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.assignments = Counter(
            "release_gate_consumer_assignments_total",
            "Completed group joins of this instance's consumer, by input topic: one at start,"
            " one per rebalance after (static membership keeps a restart of another member"
            " from adding any).",
            ["topic"],
            registry=self.registry,
        )

    def _register_health(self) -> None:
        """Operational health: states, races, retries, readiness, reloads, forwards."""
        self.forwards_allowed = Counter(
            "release_gate_forwards_allowed_total",
            "Forward requests allowed (forward-allowed published), by lane.",
            ["lane"],
            registry=self.registry,
        )
        self.revisions = Gauge(
            "release_gate_revisions",
            "Revisions currently in each state, from the projection.",
            ["state"],
            registry=self.registry,
        )
        self.store_conflicts = Counter(
            "release_gate_store_conflicts_total",
            "Appends that lost the race for the next seq (reloaded and decided again).",
            registry=self.registry,
        )
        self.infra_retries = Counter(
            "release_gate_infra_retries_total",
            "Retries after an infrastructure failure, by dependency (kafka|store).",
            ["dependency"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "release_gate_ready",
            "1 when /readyz would answer 200 (Kafka and the store reachable), else 0.",
            registry=self.registry,
        )
        self.governance_reloads = Counter(
            "release_gate_governance_reloads_total",
            "Governance file reloads, by outcome (applied|refused).",
            ["outcome"],
            registry=self.registry,
        )
        self.topic_partitions = Gauge(
            "release_gate_topic_partitions",
            "Partitions of each topic the service uses (logical name).",
            ["topic"],
            registry=self.registry,
        )
        self.topic_replication = Gauge(
            "release_gate_topic_replication_factor",
            "Replicas of each topic's least replicated partition (logical name).",
            ["topic"],
            registry=self.registry,
        )
        self.published_keys_trusted = Gauge(
            "release_gate_published_keys_trusted",
            "Release owners whose key in the governance file is a published test key (want 0).",
            registry=self.registry,
        )
        self.sign_in_failures = Counter(
            "release_gate_sign_in_failures_total",
            "Console sign-ins refused, by HTTP status (401 bad proof, 403 no role, 429 throttled).",
            ["status"],
            registry=self.registry,
        )
        self.parked_events = Gauge(
            "release_gate_parked_events",
            "Early events this instance holds for a revision not stored yet.",
            registry=self.registry,
        )
        self.parked_oldest_seconds = Gauge(
            "release_gate_parked_oldest_seconds",
            "Age of the oldest early event this instance holds (0 when none).",
            registry=self.registry,
        )
        self.scheduler_transitions = Counter(
            "release_gate_scheduler_transitions_total",
            "Time-driven transitions made by the scheduler, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.checkpoints = Counter(
            "release_gate_checkpoints_total",
            "Audit checkpoints this instance tried to publish, by outcome (published, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.checkpoint_pending = Gauge(
            "release_gate_checkpoint_pending_leaves",
            "Facts this instance appended that no published audit checkpoint covers yet.",
            registry=self.registry,
        )

    def _zero_initialise(self) -> None:
        # Series that exist from the start: increase() then sees a first increment, and
        # alerts on "any increase" fire on the very first correction.
        for stage, reasons in BLOCKED_REASONS.items():
            for reason in reasons:
                self.blocked.labels(stage=stage, reason=reason)
        for correction in CORRECTIONS:
            self.corrections.labels(correction=correction)
        for topic in INPUT_TOPICS:
            for kind in DEAD_LETTER_KINDS:
                self.dead_letters.labels(source_topic=topic, error_kind=kind)
        for state in REVISION_STATES:
            self.revisions.labels(state=state)
        for from_state, to_state, reason in TRANSITION_SERIES:
            self.transitions.labels(from_state=from_state, to_state=to_state, reason=reason)
        for dependency in INFRA_DEPENDENCIES:
            self.infra_retries.labels(dependency=dependency)
        for outcome in GOVERNANCE_RELOAD_OUTCOMES:
            self.governance_reloads.labels(outcome=outcome)
        for outcome in CHECKPOINT_OUTCOMES:
            self.checkpoints.labels(outcome=outcome)

    def init_lanes(self, lanes: Iterable[str]) -> None:
        """Zero-initialise per-lane series for the governance file's lanes."""
        for lane in lanes:
            self.releases.labels(lane=lane)
            self.forwards_allowed.labels(lane=lane)

    def transition(self, from_state: str | None, to_state: str, reason: str) -> None:
        """Count one state change; no previous state is recorded as 'none'."""
        self.transitions.labels(
            from_state=from_state or NO_STATE, to_state=to_state, reason=reason
        ).inc()

    def block(self, stage: Stage, reason: str) -> None:
        """Count one refusal at a stage of the gate (the type pins the stage set)."""
        self.blocked.labels(stage=stage, reason=reason).inc()

    def set_partition_position(
        self, topic: str, partition: int, high_watermark: int, committed: int
    ) -> None:
        """Record lag and committed offset of one partition (topic is the logical name).

        `committed` is the group's next offset to read; pass the partition's low watermark
        when the group has committed nothing yet.
        """
        labels = {"topic": topic, "partition": str(partition)}
        self.consumer_lag.labels(**labels).set(max(high_watermark - committed, 0))
        self.committed_offset.labels(**labels).set(committed)
