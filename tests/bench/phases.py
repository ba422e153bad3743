"""The measurements that drive lifecycles through a service: saturation, half rate, profile.

Each is time-based (tests/bench/steady.py): a warm-up reported apart, then a steady span
that every figure, CPU sample, counter and profile covers."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import profile
from tests.bench.context import Context, instance, sampled_pids
from tests.bench.drive import Driver, RunResult
from tests.bench.procs import LogWatch, Sampler, Usage, vm_hwm_bytes
from tests.bench.steady import Span, Timing, as_hook, count_in, figures, pool_size, steady_run
from tests.bench.workload import INPUTS_PER_LIFECYCLE, lifecycles
from tests.support.service import ServiceProcess


def cpu_per_event(percent: float | None, seconds: float, events: int) -> dict[str, Any]:
    """The service's own CPU per input event, and the rate one core could carry at that cost."""
    if not percent or not events:
        return {}
    ms = percent / 100 * seconds * 1000 / events
    return {
        "service_cpu_ms_per_input_event": round(ms, 2),
        "cpu_bound_ceiling_events_per_second_one_core": round(1000 / ms, 1),
    }


def handler_metrics(text: str) -> dict[str, dict[str, float]]:
    """Mean handler time per topic from the service's own histogram (/metrics)."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("release_gate_handler_seconds_"):
            continue
        name, _, value = line.rpartition(" ")
        topic = name.split('topic="', 1)[-1].split('"', 1)[0]
        if name.startswith("release_gate_handler_seconds_sum"):
            sums[topic] = sums.get(topic, 0.0) + float(value)
        elif name.startswith("release_gate_handler_seconds_count"):
            counts[topic] = counts.get(topic, 0.0) + float(value)
    return {
        t: {"messages": counts[t], "mean_ms": round(1000 * sums.get(t, 0.0) / counts[t], 2)}
        for t in counts
        if counts[t]
    }


SATURATION_POOL_RATE = 1500.0  # input events/s the saturation pool can feed (1.5 x the goal)


def _cpu(usage: Usage) -> dict[str, float]:
    return {k: round(v, 1) for k, v in usage.cpu_percent.items()}


@dataclass(frozen=True)
class Measured:
    """One steady run through a service: the run, its spans, memory over all of it, CPU
    over the steady span, and the log lines that say the stack disturbed it."""

    run: RunResult
    warm: Span
    steady: Span
    peak_rss: int
    cpu: Usage
    disturbed: dict[str, int]


async def measured_run(
    svc: ServiceProcess,
    driver: Driver,
    pool: list[Any],
    timing: Timing,
    bench_log: Path,
    **pace: Any,
) -> Measured:
    """`steady_run` with memory sampled throughout and CPU over the steady span only."""
    watch = LogWatch(svc.log_path, bench_log)
    memory = Sampler(sampled_pids(svc.pid))  # the whole phase, warm-up included
    cpu = Sampler(sampled_pids(svc.pid))  # the steady span only
    memory.start()
    run, warm, steady = await steady_run(
        driver,
        pool,
        timing.warm,
        timing.steady,
        begin=as_hook(cpu.start),
        end=as_hook(cpu.stop),
        **pace,
    )
    rss = await memory.stop()
    disturbed = watch.count() | ({"stalled": 1} if run.stalled else {})
    return Measured(run, warm, steady, rss.peak_rss, cpu.usage, disturbed)


async def saturation(ctx: Context, timing: Timing) -> dict[str, Any]:
    """A standing backlog: steady throughput, latency, CPU per event, and the service's RSS."""
    pool = lifecycles(pool_size(SATURATION_POOL_RATE, timing.seconds, timing.backlog), "sat")
    async with instance(ctx, ctx.new_prefix("sat")) as (svc, driver, info):
        m = await measured_run(svc, driver, pool, timing, ctx.bench_log, backlog=timing.backlog)
        hwm = vm_hwm_bytes(svc.pid)
        metrics = (await svc.get("/metrics")).text
    done = count_in(m.run.inputs_done, m.steady)
    return {
        **info,
        "backlog_lifecycles": timing.backlog,
        "pool_lifecycles": len(pool),
        **figures(m.run, m.warm, m.steady, timing.width),
        "cpu_percent_of_one_core": _cpu(m.cpu),
        "peak_rss_bytes": m.peak_rss,
        "service_vm_hwm_bytes": hwm,
        "handler_mean_ms": handler_metrics(metrics),
        **cpu_per_event(m.cpu.cpu_percent.get("service"), m.cpu.seconds, done),
        "disturbed": m.disturbed,
    }


async def half_rate(ctx: Context, saturated_eps: float, timing: Timing) -> dict[str, Any]:
    """Packet-ready paced so the input rate is half the saturated one."""
    rate = max(saturated_eps / 2, 0.5)
    pool = lifecycles(max(4, math.ceil(rate / INPUTS_PER_LIFECYCLE * timing.seconds) + 1), "half")
    async with instance(ctx, ctx.new_prefix("half")) as (svc, driver, info):
        m = await measured_run(svc, driver, pool, timing, ctx.bench_log, rate=rate)
    return {
        **info,
        "target_events_per_second": round(rate, 2),
        **figures(m.run, m.warm, m.steady, timing.width),
        "cpu_percent_of_one_core": _cpu(m.cpu),
        "peak_rss_bytes": m.peak_rss,
        "disturbed": m.disturbed,
    }


async def profiled(
    ctx: Context, saturated_eps: float, timing: Timing, out_dir: Path
) -> dict[str, Any]:
    """The saturated phase again, under py-spy (a flame graph and raw stacks of the steady
    span) and with the part timers and the store round trips counted over that span."""
    stats_path = out_dir / f"bench-stats-{ctx.run_id}.json"
    raw_path = out_dir / f"bench-pyspy-{ctx.run_id}.txt"
    svg_path = out_dir / f"bench-flamegraph-{ctx.run_id}.svg"
    env = {"BENCH_STATS_PATH": str(stats_path)}
    rate = max(2 * saturated_eps, 400.0)  # pool for twice the saturated rate
    pool = lifecycles(pool_size(rate, timing.seconds, timing.backlog), "prof")
    module = "tests.bench.instrumented"
    async with instance(ctx, ctx.new_prefix("prof"), module=module, extra_env=env) as (
        svc,
        driver,
        info,
    ):
        pid = svc.pid
        watch = LogWatch(svc.log_path, ctx.bench_log)
        spies: list[Any] = []
        counted: list[dict[str, Any]] = []

        async def begin() -> None:
            counted.append(await profile.snapshot(pid, stats_path, 1))
            spies.extend(
                [profile.start_py_spy(pid, raw_path), profile.start_flamegraph(pid, svg_path)]
            )

        async def end() -> None:
            counted.append(await profile.snapshot(pid, stats_path, 2))
            for spy in spies:
                await asyncio.to_thread(profile.stop_py_spy, spy)

        run, warm, steady = await steady_run(
            driver, pool, timing.warm, timing.steady, backlog=timing.backlog, begin=begin, end=end
        )
        disturbed = watch.count() | ({"stalled": 1} if run.stalled else {})
    done = count_in(run.inputs_done, steady)
    timers = profile.difference(*reversed(counted)) if len(counted) == 2 else {}
    samples = profile.read_raw(raw_path) if raw_path.exists() else {}
    return {
        **info,
        **figures(run, warm, steady, timing.width),
        "py_spy_raw": str(raw_path),
        "flamegraph_svg": str(svg_path) if svg_path.exists() else None,
        "store_round_trips_counted": profile.store_round_trips(timers) if timers else None,
        "store_round_trips_per_input_event": (
            round(profile.store_round_trips(timers) / done, 3) if timers and done else None
        ),
        "timers_over_steady_span": timers,
        "disturbed": disturbed,
        "summary": profile.summarize(samples, timers, done, pid, done),
    }
