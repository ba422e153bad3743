"""Time-based phases: a warm-up reported apart, then a steady span that the figures come from.

Pure helpers over perf_counter timestamps (tests/bench/drive.py records them), and the one
coroutine that runs a driven pass for warm-up + steady seconds with hooks at the boundary.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.bench.drive import Driver, RunResult, percentile
from tests.bench.workload import INPUTS_PER_LIFECYCLE, Lifecycle

Hook = Callable[[], Awaitable[None]]
LIMIT = 3600.0  # seconds: a driven run ends when the phase says so, this is a backstop


@dataclass(frozen=True)
class Timing:
    """How long a phase warms up and then measures, its window width, and its backlog."""

    warm: float
    steady: float
    width: float  # seconds per window (rates and p50s by window)
    backlog: int  # lifecycles in flight while saturated

    @property
    def seconds(self) -> float:
        return self.warm + self.steady


@dataclass(frozen=True)
class Span:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)

    def holds(self, t: float) -> bool:
        return self.start <= t < self.end


def count_in(times: Sequence[float], span: Span) -> int:
    return sum(1 for t in times if span.holds(t))


def rate_in(times: Sequence[float], span: Span) -> float:
    """Events per second of `times` that fall in `span`."""
    return count_in(times, span) / span.seconds if span.seconds else 0.0


def windows(span: Span, width: float) -> list[Span]:
    """Whole windows of `width` seconds from the span's start; a shorter tail is dropped."""
    if width <= 0:
        return []
    return [
        Span(span.start + i * width, span.start + (i + 1) * width)
        for i in range(int(span.seconds / width + 1e-9))
    ]


def rates_by_window(times: Sequence[float], span: Span, width: float) -> list[float]:
    return [rate_in(times, w) for w in windows(span, width)]


def p50_by_window(
    at: Sequence[float], values: Sequence[float], span: Span, width: float
) -> list[float | None]:
    """The median of `values` whose time in `at` falls in each window; None for an empty one."""
    out: list[float | None] = []
    for w in windows(span, width):
        inside = [v for t, v in zip(at, values, strict=True) if w.holds(t)]
        out.append(statistics.median(inside) if inside else None)
    return out


def worst_window(p50s: Sequence[float | None]) -> dict[str, Any]:
    """The highest window p50 over the median of the window p50s; empty windows counted apart
    (a window in which no manifest arrived at all is a stall, the worst case there is)."""
    seen = [p for p in p50s if p is not None]
    empty = len(p50s) - len(seen)
    if not seen:
        return {"windows": len(p50s), "empty_windows": empty, "worst_over_median": None}
    median = statistics.median(seen)
    return {
        "windows": len(p50s),
        "empty_windows": empty,
        "median_window_p50_ms": round(median * 1000, 1),
        "worst_window_p50_ms": round(max(seen) * 1000, 1),
        "worst_over_median": round(max(seen) / median, 3) if median else None,
    }


def pool_size(events_per_second: float, seconds: float, backlog: int) -> int:
    """Lifecycles enough to keep `backlog` in flight for `seconds` at up to that input rate."""
    return backlog + math.ceil(events_per_second * seconds / INPUTS_PER_LIFECYCLE)


def exhausted(at: float | None, steady: Span) -> bool:
    """Whether the feeder ran dry before the steady span ended (the backlog then drained)."""
    return at is not None and at < steady.end


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def figures(run: RunResult, warm: Span, steady: Span, width: float) -> dict[str, Any]:
    """The steady span's figures at the top level, the warm-up's apart under `warm_up`."""
    pairs = zip(run.latency_at, run.latencies, strict=True)
    steady_lat = [v for t, v in pairs if steady.holds(t)]
    return {
        "warm_up": {
            "seconds": round(warm.seconds, 2),
            "input_events_done": count_in(run.inputs_done, warm),
            "events_per_second": round(rate_in(run.inputs_done, warm), 2),
        },
        "steady_seconds": round(steady.seconds, 2),
        "input_events_done": count_in(run.inputs_done, steady),
        "events_per_second": round(rate_in(run.inputs_done, steady), 2),
        "window_seconds": width,
        "events_per_second_by_window": [
            round(r, 1) for r in rates_by_window(run.inputs_done, steady, width)
        ],
        "approval_to_manifest_p50_ms": _ms(percentile(steady_lat, 50)),
        "approval_to_manifest_p99_ms": _ms(percentile(steady_lat, 99)),
        "approval_to_manifest_p50_ms_by_window": [
            _ms(p) for p in p50_by_window(run.latency_at, run.latencies, steady, width)
        ],
        "latency_samples": len(steady_lat),
        "lifecycles_fed": run.lifecycles_fed,
        "pool_exhausted": exhausted(run.pool_exhausted_at, steady),
        "outputs_seen": run.outputs_seen,
        "duplicate_outputs": run.duplicates,
        "unexpected_outputs": run.unexpected,
        "stalled": run.stalled,
    }


async def _nothing() -> None:
    return None


def as_hook(fn: Callable[[], object]) -> Hook:
    """A hook of a plain or a coroutine function (Sampler.start, Sampler.stop)."""

    async def hook() -> None:
        result = fn()
        if inspect.isawaitable(result):
            await result

    return hook


async def steady_run(
    driver: Driver,
    pool: Sequence[Lifecycle],
    warm: float,
    steady: float,
    *,
    rate: float | None = None,
    backlog: int | None = None,
    begin: Hook = _nothing,
    end: Hook = _nothing,
) -> tuple[RunResult, Span, Span]:
    """Drive `pool` for `warm` then `steady` seconds; `begin` and `end` run at the steady
    span's edges (samplers, py-spy, counters): it starts once `begin` has returned and ends
    as `end` is called, and the driver stops once `end` has returned."""
    over = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(
        driver.run(pool, rate=rate, backlog=backlog, timeout=LIMIT, stall=None, until=over)
    )
    try:
        await _sleep_until(t0 + warm, task)
        await begin()
        t1 = time.perf_counter()  # the instruments are in place
        await _sleep_until(t1 + steady, task)
        t2 = time.perf_counter()
        await end()
        over.set()
        run = await task
    finally:
        task.cancel()
    return run, Span(t0, t1), Span(t1, t2)


async def _sleep_until(when: float, task: asyncio.Task[RunResult]) -> None:
    """Sleep until `when`; a run that ended early (every output seen) ends the wait too."""
    delay = when - time.perf_counter()
    if delay > 0:
        await asyncio.wait({task}, timeout=delay)
