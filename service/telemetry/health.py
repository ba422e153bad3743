"""Readiness as the consumers experience it, plus live pings for /readyz."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import ConsumerRebalanceListener, TopicPartition

from service.telemetry.metrics import Metrics


class _Joined(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, health: Health, topic: str) -> None:
        self.health = health
        self.topic = topic

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # Called after every completed join, with an empty set too (more members than
        # partitions): joined is joined.
        self.health.joined(self.topic)


@dataclass
class Health:
    metrics: Metrics
    failing: dict[str, str] = field(default_factory=dict)  # dependency -> last error
    since: dict[str, float] = field(default_factory=dict)
    # Input topics whose consumer must join the group once before the instance is ready:
    # records sent earlier would wait out the remaining joins (each one a rebalance).
    consumers: tuple[str, ...] = ()
    joined_topics: set[str] = field(default_factory=set)
    # What an operator must know that does not stop the service (shown by /readyz).
    warnings: dict[str, str] = field(default_factory=dict)

    def listener(self, topic: str) -> ConsumerRebalanceListener:
        return _Joined(self, topic)

    def joined(self, topic: str) -> None:
        self.metrics.assignments.labels(topic=topic).inc()
        self.joined_topics.add(topic)
        self._publish()

    def joining(self) -> list[str]:
        return [t for t in self.consumers if t not in self.joined_topics]

    def fail(self, dependency: str, error: BaseException) -> None:
        self.failing[dependency] = f"{type(error).__name__}: {error}"
        self.since.setdefault(dependency, time.monotonic())
        self.metrics.ready.set(0)

    def recover(self, dependency: str | None = None) -> None:
        for dep in [dependency] if dependency else list(self.failing):
            self.failing.pop(dep, None)
            self.since.pop(dep, None)
        self._publish()

    def _publish(self) -> None:
        self.metrics.ready.set(0 if self.failing or self.joining() else 1)


@dataclass
class StartUp:
    """Where start-up is: it runs beside HTTP (service/entrypoints/lifespan.py), so /readyz
    can name what it waits for and why until it is done."""

    waiting: str = "starting"
    done: bool = False
    failed: str | None = None
    # Called once if start-up fails: stops the HTTP server (service/cli/main.py).
    on_failure: Callable[[], None] = lambda: None

    def status(self) -> str | None:
        """None once started; else what start-up is doing, or why it failed."""
        if self.done:
            return None
        return f"failed: {self.failed}" if self.failed is not None else self.waiting


class ConnectionProblems(logging.Handler):
    """The last reason aiokafka logged for not connecting to a broker.

    aiokafka raises only `KafkaConnectionError("Unable to bootstrap from ...")`; the reason
    (a SASL authentication failure, a certificate that does not verify, a refused connection)
    is in the line it logs just before, as the exception object itself. That object's text is
    the broker's or the TLS library's message, which carries no setting of ours.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if isinstance(record.msg, str) and record.msg.startswith("Unable connect to") and args:
            error = args[-1]
            if isinstance(error, BaseException):
                text, kind = str(error), type(error).__name__
                self.last = text if kind in text else f"{kind}: {text}"
