"""create_app(settings): the one place things are wired. Nothing connects at import time."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from prometheus_client import CollectorRegistry

from service.adapters.attestation import Attestor
from service.adapters.dsse import sign_payload
from service.adapters.errors import TRANSIENT_ERRORS
from service.adapters.gate_key import GateKey, GateKeyError, load_gate_key
from service.adapters.governance_file import GovernanceWatcher, note_published_keys
from service.adapters.kafka_security import kafka_security
from service.adapters.kafka_topics import create_topics, dead_letter_bytes
from service.adapters.mongo_client import Client, open_client
from service.adapters.mongo_store import MongoStore
from service.adapters.outbox import MARK_INTERVAL_SECONDS, KafkaOutbox
from service.console.pages import Console
from service.console.sessions import Sessions
from service.domain.checkpoint import PAYLOAD_TYPE, leaves_cap
from service.domain.commands import Parking
from service.domain.governance import Governance
from service.entrypoints.asyncapi import specification
from service.entrypoints.consume import process_batch
from service.entrypoints.http import ASGIApp, HttpSide, http_app, router
from service.entrypoints.lifespan import beside_http
from service.entrypoints.loops import (
    Monitor,
    Scheduler,
    forever,
    governance_step,
    relay_step,
    stop_loops,
)
from service.gate.checkpoints import AnchoringPublisher, Checkpointer
from service.gate.context import GateContext, utc_now
from service.gate.due import DueTimes
from service.gate.gate import Gate
from service.gate.snapshots import FLUSH_SECONDS as SNAPSHOT_FLUSH_SECONDS
from service.handlers import HANDLERS, TopicHandler
from service.settings import INPUT_TOPICS, Settings
from service.telemetry.health import ConnectionProblems, Health, StartUp
from service.telemetry.logs import configure_logging
from service.telemetry.metrics import Metrics


async def raw_bodies(msg: StreamMessage[Any]) -> Any:
    """Keep values as bytes: decoding and its errors belong to the contract layer."""
    return msg.body


# How long the checkpoint flushed at shutdown may take (service/gate/checkpoints.py).
LAST_CHECKPOINT_SECONDS = 5.0


class Service:
    """Everything one instance owns; started and stopped by the ASGI lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = logging.getLogger("release_gate")
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.broker = KafkaBroker(
            settings.bootstrap_servers(),
            enable_idempotence=True,  # acks=all, no duplicates from producer retries
            graceful_timeout=settings.shutdown_grace_seconds,
            max_request_size=dead_letter_bytes(settings),
            client_id=f"release-gate-{settings.instance_id}",
            security=kafka_security(settings),
            middlewares=[
                KafkaPrometheusMiddleware(registry=self.registry, app_name="release-gate")
            ],
            logger=self.log,
        )
        self.client: Client | None = None
        self.gate_key: GateKey | None = None
        self.watcher: GovernanceWatcher | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.monitor: Monitor | None = None
        self.checkpointer: Checkpointer | None = None
        self.outbox: KafkaOutbox | None = None
        self.due = DueTimes(horizon=timedelta(seconds=2 * settings.scan_interval_seconds))
        self.health = Health(self.metrics, consumers=INPUT_TOPICS)
        self.startup = StartUp()
        # Why a Kafka connection failed, which aiokafka only logs (service/telemetry/health.py).
        self.kafka_problems = ConnectionProblems()
        logging.getLogger("aiokafka").addHandler(self.kafka_problems)
        self._rt: GateContext | None = None
        for topic in INPUT_TOPICS:
            self._subscribe(topic, HANDLERS[topic])

    def governance(self) -> Governance:
        assert self.watcher is not None, "the governance file is read at start-up"
        return self.watcher.current

    @property
    def rt(self) -> GateContext:
        assert self._rt is not None, "the runtime is built at start-up"
        return self._rt

    def _subscribe(self, topic: str, handler: TopicHandler) -> None:
        s = self.settings
        subscriber = self.broker.subscriber(
            s.topic(topic),
            group_id=s.consumer_group,
            group_instance_id=f"{s.group_instance_id}-{topic}" if s.group_instance_id else None,
            batch=True,
            max_records=s.batch_max_records,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,  # commit only after the batch's effects are durable
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            max_poll_interval_ms=s.max_poll_interval_ms,
            decoder=raw_bodies,
            listener=self.health.listener(topic),
            include_in_schema=False,  # documented with typed models by service.entrypoints.asyncapi
        )

        async def consume(body: Any, msg: KafkaMessage) -> None:
            raw = msg.raw_message
            records = tuple(raw) if isinstance(raw, tuple | list) else (raw,)
            await process_batch(self.rt, topic, handler, records)
            await msg.ack()

        consume.__name__ = "on_" + topic.replace("-", "_")
        subscriber(consume)

    async def start(self) -> None:
        s = self.settings
        self.gate_key = gate_key_of(s)
        watcher = GovernanceWatcher(s.governance_file, on_error=self._governance_refused)
        self.watcher = watcher
        self.metrics.init_lanes(watcher.current.lanes)
        note_published_keys(self.log, self.health, self.metrics, watcher.current)
        self.client = open_client(s)
        store = MongoStore(self.client[s.mongodb_database], s.packet_cache_size)
        await until_available(self.log, "store", store.ensure_indexes, self.startup)
        await until_available(
            self.log, "kafka", self._create_topics, self.startup, self._kafka_reason
        )
        self.startup.waiting = "starting the consumers"
        outbox = self.outbox = KafkaOutbox(self.broker, store, s, Attestor(self.gate_key))
        self.checkpointer = self._checkpointer(outbox, self.gate_key)
        self.anchored = AnchoringPublisher(outbox, self.checkpointer)
        gate = Gate(
            store,
            self.anchored,
            lambda: watcher.current,
            utc_now,
            self.metrics,
            s.conflict_retries,
            self.due,
            Parking(s.early_event_grace, s.max_parked_per_packet),
            s.max_parked_total,
        )
        self._rt = GateContext(
            s, store, gate, outbox, self.metrics, self.health, self.log, gate_key=self.gate_key
        )
        self._rt.checkpoints = self.checkpointer
        self.health.recover()  # ready once every consumer has joined its group

    def _checkpointer(self, outbox: KafkaOutbox, key: GateKey) -> Checkpointer:
        return Checkpointer(
            outbox,
            lambda payload: sign_payload(key, payload, PAYLOAD_TYPE),
            utc_now,
            self.metrics,
            self.log,
            leaves_cap(self.settings.max_message_bytes),
        )

    async def _create_topics(self) -> None:
        self.kafka_problems.last = None  # the reason of this attempt, not of an earlier one
        await create_topics(self.settings)

    def _kafka_reason(self, exc: BaseException) -> str:
        return self.kafka_problems.last or f"{type(exc).__name__}: {exc}"

    async def abandon(self) -> None:
        """Close what a start-up that did not complete (a shutdown meanwhile, a failure) opened."""
        try:
            await self.broker.stop()
        finally:
            await self.closed()

    async def started(self) -> None:
        s, rt = self.settings, self.rt
        assert self.watcher is not None and self.checkpointer is not None
        assert self.outbox is not None
        self.monitor = Monitor(rt)
        scheduler = Scheduler(rt, self.due)
        loops: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
            ("scheduler", s.scheduler_interval_seconds, scheduler.step),
            ("relay", s.relay_interval_seconds, lambda: relay_step(rt, self.anchored)),
            ("outbox marks", MARK_INTERVAL_SECONDS, self.outbox.flush_marks),
            ("snapshots", SNAPSHOT_FLUSH_SECONDS, rt.gate.snapshots.flush),
            ("checkpoint", s.checkpoint_interval_seconds, self.checkpointer.flush),
            ("governance", s.governance_poll_seconds, governance_step(rt, self.watcher)),
            ("monitor", s.monitor_interval_seconds, self.monitor.step),
        ]
        self.tasks = [asyncio.create_task(forever(rt, n, i, f), name=n) for n, i, f in loops]
        self.log.info("release gate started", extra={"instance": s.instance_id})

    async def stop(self) -> None:
        # FastStream then closes the consumers, each after its in-flight batch is done, for at
        # most SHUTDOWN_GRACE_SECONDS; a record taken but not committed is redelivered to the
        # next member and recognised there as a duplicate (tests/e2e/test_graceful_shutdown.py).
        self.log.info("release gate stopping", extra={"instance": self.settings.instance_id})
        await stop_loops(self.tasks, self.log)
        await self._last_checkpoint()
        if self.monitor is not None:
            await self.monitor.close()

    async def _last_writes(self) -> None:
        """The consumers have stopped: write the snapshots their last batches noted and mark
        what they published, so a successor loads without probing and its relay does not send
        it again (each bounded, like the last checkpoint; both only save work if they fail)."""
        if self.outbox is None or self.client is None or self._rt is None:
            return
        for name, flush in (
            ("snapshots", self._rt.gate.snapshots.flush),
            ("outbox marks", self.outbox.flush_marks),
        ):
            try:
                async with asyncio.timeout(LAST_CHECKPOINT_SECONDS):
                    await flush()
            except TimeoutError:
                self.log.warning(f"{name} left unwritten at shutdown")
            except TRANSIENT_ERRORS:
                self.log.warning(f"{name} left unwritten at shutdown")

    async def _last_checkpoint(self) -> None:
        """What the loops appended since the last checkpoint, while the producer is up. The
        consumers' last batches finish after this (FastStream stops them next): facts they
        append are covered by no checkpoint (docs/security.md, "Audit checkpoints")."""
        if self.checkpointer is None:
            return
        try:  # bounded: a broker that is away must not hold the consumers' grace period
            async with asyncio.timeout(LAST_CHECKPOINT_SECONDS):
                await self.checkpointer.flush()
        except TimeoutError:
            self.log.warning("the last audit checkpoint was not published before shutdown")

    async def closed(self) -> None:
        logging.getLogger("aiokafka").removeHandler(self.kafka_problems)
        await self._last_writes()
        if self.client is not None:
            await self.client.close()
            self.client = None
        self.log.info("release gate stopped", extra={"instance": self.settings.instance_id})

    def _governance_refused(self, reason: str) -> None:
        self.metrics.governance_reloads.labels(outcome="refused").inc()
        self.log.error(
            "governance change refused; the last good file stays in force", extra={"reason": reason}
        )


def gate_key_of(settings: Settings) -> GateKey:
    """Fail closed: no manifest leaves the gate unsigned, so no key means no start."""
    if settings.gate_key_file is None:
        raise GateKeyError(
            "GATE_KEY_FILE is not set: the gate signs every release attestation and audit "
            "checkpoint and does not start without its key (python -m service keygen --out FILE)"
        )
    return load_gate_key(settings.gate_key_file)


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def until_available(
    log: logging.Logger,
    name: str,
    step: Callable[[], Awaitable[None]],
    startup: StartUp | None = None,
    reason: Callable[[BaseException], str] = _described,
    attempts: int = 30,
) -> None:
    """Start-up waits out a dependency that is still coming up, then gives up loudly. Each
    wait is logged and shown by /readyz (`starting`) with its reason: never a setting's value,
    only the driver's, the broker's or the TLS library's message."""
    if startup is not None:
        startup.waiting = f"connecting to {name}"
    for attempt in range(1, attempts + 1):
        try:
            await step()
            return
        except TRANSIENT_ERRORS as exc:
            if attempt == attempts:
                raise
            why = reason(exc)[:200]
            if startup is not None:
                startup.waiting = f"waiting for {name}: {why}"
            log.warning(
                f"waiting for {name} at start-up", extra={"error": repr(exc), "reason": why}
            )
            await asyncio.sleep(min(0.2 * attempt, 2.0))


def create_app(settings: Settings) -> tuple[ASGIApp, Service]:
    configure_logging(settings.log_level)
    service = Service(settings)
    # No asyncapi_path: FastStream's AsyncAPI route would also mount its "try it out"
    # handler, which publishes request bodies to Kafka. The JSON is served by our routes.
    faststream = AsgiFastStream(
        service.broker,
        on_startup=[service.start],
        after_startup=[service.started],
        on_shutdown=[service.stop],
        after_shutdown=[service.closed],
    )
    # Start-up runs beside HTTP, so /readyz can say what it waits for (a wrong password...).
    lifespan = beside_http(faststream, service.startup, service.abandon, service.log)
    document = asyncapi_json(settings)
    given = settings.session_secret
    secret = given.get_secret_value().encode() if given else secrets.token_bytes(32)
    sessions = Sessions(
        secret,
        lambda: service.governance(),
        ttl_seconds=settings.session_ttl_seconds,
    )
    side = HttpSide(
        lambda: service.rt,
        service.broker,
        sessions,
        lambda: document,
        secure_cookies=settings.session_cookie_secure,
        starting=service.startup.status,
    )
    console = Console.build(lambda: service.rt, service.governance, sessions)
    return router(lifespan, http_app(side, settings.max_http_body_bytes, console)), service


def asyncapi_json(settings: Settings) -> bytes:
    doc = specification(settings).to_specification().to_jsonable()
    return json.dumps(doc, ensure_ascii=False).encode()
