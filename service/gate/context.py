"""What handlers and loops share: built once by create_app, passed explicitly."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from service.adapters.gate_key import GateKey
from service.adapters.store import FactStore
from service.gate.checkpoints import Checkpointer
from service.gate.gate import Gate
from service.settings import Settings
from service.telemetry.health import Health
from service.telemetry.metrics import Metrics


class EventSender(Protocol):
    async def send(self, topic: str, key: str, event: Mapping[str, Any]) -> Awaitable[Any]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class GateContext:
    settings: Settings
    store: FactStore
    gate: Gate
    sender: EventSender
    metrics: Metrics
    health: Health
    log: logging.Logger
    clock: Callable[[], datetime] = utc_now
    gate_key: GateKey | None = None  # signs attestations and checkpoints (adapters/gate_key.py)
    checkpoints: Checkpointer | None = None  # the audit checkpoints (gate/checkpoints.py)
