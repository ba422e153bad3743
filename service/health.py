"""Readiness as the consumers experience it, plus live pings for /readyz."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from service.metrics import Metrics


@dataclass
class Health:
    metrics: Metrics
    failing: dict[str, str] = field(default_factory=dict)  # dependency -> last error
    since: dict[str, float] = field(default_factory=dict)

    def fail(self, dependency: str, error: BaseException) -> None:
        self.failing[dependency] = f"{type(error).__name__}: {error}"
        self.since.setdefault(dependency, time.monotonic())
        self.metrics.ready.set(0)

    def recover(self, dependency: str | None = None) -> None:
        for dep in [dependency] if dependency else list(self.failing):
            self.failing.pop(dep, None)
            self.since.pop(dep, None)
        if not self.failing:
            self.metrics.ready.set(1)
