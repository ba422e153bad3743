"""The one settings class: every knob comes from the environment (pydantic-settings)."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

INPUT_TOPICS = (
    "packet-ready",
    "approval-decision",
    "evidence-changed",
    "forward-request",
    "review-feedback",
)
OUTPUT_TOPICS = (
    "release-manifest",
    "blocked-forward",
    "forward-allowed",
    "packet-lifecycle",
    "dead-letter",
)


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = "release_gate"
    mongodb_max_pool_size: int = Field(default=16, ge=1)
    topic_prefix: str = ""
    governance_file: Path = Path("ops/governance/lanes.yaml")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    consumer_group: str = "release-gate"
    topic_partitions: int = Field(default=3, ge=1)
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    batch_max_records: int = Field(default=200, ge=1)
    scheduler_interval_seconds: float = Field(default=1.0, gt=0)
    relay_interval_seconds: float = Field(default=2.0, gt=0)
    # Full scans of the projections (scheduler refresh, revision-state gauges): FerretDB
    # reads every projection for them, so they run at this slower cadence.
    scan_interval_seconds: float = Field(default=60.0, gt=0)
    # Packets whose logs this instance keeps after writing them (loads still probe the store).
    packet_cache_size: int = Field(default=5_000, ge=0)
    governance_poll_seconds: float = Field(default=2.0, gt=0)
    monitor_interval_seconds: float = Field(default=5.0, gt=0)
    # How long an event that overtook its revision is held (ISO 8601, e.g. PT5M), and how
    # many such events one packet, and one instance in all, may hold.
    early_event_grace: timedelta = timedelta(minutes=5)
    max_parked_per_packet: int = Field(default=100, ge=1)
    max_parked_total: int = Field(default=10_000, ge=1)
    conflict_retries: int = Field(default=10, ge=1)
    retry_backoff_max_seconds: float = Field(default=5.0, gt=0)
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    # Console sessions: sealed with this secret (give every replica the same one; without
    # it each process makes its own and sessions do not survive a restart), this long.
    session_secret: SecretStr | None = None
    session_ttl_seconds: float = Field(default=1800.0, gt=0)
    # Mark the session cookie Secure even when the request reached us over plain HTTP (TLS
    # ended at a proxy in front); it is Secure anyway when the request came over https.
    session_cookie_secure: bool = False
    max_http_body_bytes: int = Field(default=64 * 1024, ge=1024)
    log_level: str = "INFO"
    instance_id: str = Field(default_factory=_instance_id)

    def topic(self, name: str) -> str:
        """A logical topic name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"
