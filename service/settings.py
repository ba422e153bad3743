"""The one settings class: every knob comes from the environment (pydantic-settings)."""

from __future__ import annotations

import difflib
import os
import socket
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
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
    "audit-checkpoint",
)


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


# Settings whose names an operator is likely to misspell with nothing else to notice: any
# variable under these prefixes that names no setting (nor a setting's *_FILE) stops start-up.
CHECKED_PREFIXES = ("KAFKA_SASL_", "KAFKA_SSL_", "KAFKA_SECURITY", "MONGODB_", "SESSION_")
# Secrets that may come from a file named by <NAME>_FILE (a mounted Kubernetes Secret).
SECRET_FILES = ("kafka_sasl_password", "kafka_ssl_key_password", "mongodb_url", "session_secret")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # How every Kafka client of the process and the CLI connects (adapters/kafka_security.py).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # trust only this CA (else the system's)
    kafka_ssl_certfile: Path | None = None  # mTLS: the client certificate (PEM) ...
    kafka_ssl_keyfile: Path | None = None  # ... and its key
    kafka_ssl_key_password: SecretStr | None = None
    # A URL may carry a password: it is a secret (never logged), or read from MONGODB_URL_FILE.
    mongodb_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    mongodb_database: str = "release_gate"
    mongodb_max_pool_size: int = Field(default=16, ge=1)
    # Acknowledged by a majority of a replica set, read as a majority has it: a fact the gate
    # appended survives a primary's step-down (service/adapters/mongo_client.py).
    mongodb_write_concern: str = "majority"
    mongodb_read_concern: Literal["local", "majority", "linearizable"] = "majority"
    # Topics the service creates: 1 and 1 for a laptop, 3 and 2 for a production cluster.
    topic_replication_factor: int = Field(default=1, ge=1)
    topic_min_insync_replicas: int = Field(default=1, ge=1)
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
    # Static group membership (Kubernetes: the pod name): a restarted instance takes back its
    # partitions without a rebalance of every member. Each of the five consumers adds its topic.
    group_instance_id: str | None = None
    # On SIGTERM each consumer finishes the batch it holds, for at most this long, before the
    # process exits: keep it below Kubernetes' terminationGracePeriodSeconds.
    shutdown_grace_seconds: float = Field(default=15.0, gt=0)
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
    # The gate's own Ed25519 key (unencrypted PKCS#8 PEM; a mounted Secret): it signs every
    # release attestation and audit checkpoint. Required: without it the service will not start.
    gate_key_file: Path | None = None
    # How often the facts appended since the last audit checkpoint are signed and published.
    checkpoint_interval_seconds: float = Field(default=10.0, gt=0)
    max_http_body_bytes: int = Field(default=64 * 1024, ge=1024)
    log_level: str = "INFO"
    instance_id: str = Field(default_factory=_instance_id)

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, values: Any) -> Any:
        """<NAME>_FILE names a file holding the secret (a trailing newline is dropped)."""
        if not isinstance(values, dict):
            return values
        for name in SECRET_FILES:
            path = os.environ.get(f"{name.upper()}_FILE")
            if path and name not in values:
                try:
                    values[name] = Path(path).read_text().rstrip("\n")
                except OSError as exc:  # the path is no secret; the content is never shown
                    problem = f"{name.upper()}_FILE: cannot read {path}: {exc.strerror}"
                    raise ValueError(problem) from None
        return values

    def bootstrap_servers(self) -> list[str]:
        """`KAFKA_BOOTSTRAP_SERVERS` as a list: FastStream takes a string as one host."""
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    def topic(self, name: str) -> str:
        """A logical topic name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """Variables under CHECKED_PREFIXES that name no setting, each with a likely meaning."""
    known = {name.upper() for name in Settings.model_fields}
    known |= {f"{name.upper()}_FILE" for name in SECRET_FILES}
    found = []
    for key in sorted(environ):
        if key.startswith(CHECKED_PREFIXES) and key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1)
            found.append(f"{key}" + (f" (did you mean {near[0]}?)" if near else ""))
    return found


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment; refuses a misspelt security or store setting."""
    unknown = unknown_settings(os.environ if environ is None else environ)
    if unknown:
        raise SettingsRefused(f"unknown settings: {', '.join(unknown)}")
    return Settings()


class SettingsRefused(ValueError):
    """A setting the service does not know: it would have been silently ignored."""
