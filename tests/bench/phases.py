"""The measurements that drive lifecycles through a service: saturation, half rate, profile."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tests.bench import profile
from tests.bench.context import Context, instance, sampled_pids, warm_up
from tests.bench.drive import RunResult, percentile
from tests.bench.procs import LogWatch, Sampler, vm_hwm_bytes
from tests.bench.workload import lifecycles


def summarize(run: RunResult) -> dict[str, Any]:
    p50, p99 = percentile(run.latencies, 50), percentile(run.latencies, 99)
    return {
        "lifecycles": run.lifecycles,
        "input_events_done": len(run.inputs_done),
        "complete": run.complete,
        "wall_seconds": round(run.wall, 3),
        "events_per_second": round(run.events_per_second, 2),
        "events_per_second_by_quarter": [round(r, 2) for r in run.window_rates()],
        "approval_to_manifest_p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "approval_to_manifest_p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "latency_samples": len(run.latencies),
        "outputs_seen": run.outputs_seen,
        "duplicate_outputs": run.duplicates,
        "unexpected_outputs": run.unexpected,
        "stalled": run.stalled,
    }


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


async def saturation(ctx: Context, count: int) -> dict[str, Any]:
    """A backlog of `count` lifecycles: throughput, latency, CPU, and the service's RSS."""
    async with instance(ctx, ctx.new_prefix("sat")) as (svc, driver, info):
        warm = await warm_up(driver)
        watch = LogWatch(svc.log_path, ctx.bench_log)
        sampler = Sampler(sampled_pids(svc.pid))
        sampler.start()
        run = await driver.run(lifecycles(count, "sat"), timeout=120 + 2 * count)
        usage = await sampler.stop()
        disturbed = watch.count() | ({"stalled": 1} if run.stalled else {})
        hwm = vm_hwm_bytes(svc.pid)
        metrics = (await svc.get("/metrics")).text
    return {
        **info,
        "warm_up_complete": warm.complete,
        **summarize(run),
        "facts_stored_at_end": 5 * (count + 2),
        "cpu_percent_of_one_core": {k: round(v, 1) for k, v in usage.cpu_percent.items()},
        "peak_rss_bytes": usage.peak_rss,
        "service_vm_hwm_bytes": hwm,
        "handler_mean_ms": handler_metrics(metrics),
        **cpu_per_event(usage.cpu_percent.get("service"), usage.seconds, len(run.inputs_done)),
        "disturbed": disturbed,
    }


async def half_rate(ctx: Context, saturated_eps: float, seconds: float) -> dict[str, Any]:
    """Phase 2: packet-ready paced so the input rate is half the saturated one."""
    rate = max(saturated_eps / 2, 0.5)
    count = max(4, math.ceil(rate / 4 * seconds))
    async with instance(ctx, ctx.new_prefix("half")) as (svc, driver, info):
        await warm_up(driver)
        watch = LogWatch(svc.log_path, ctx.bench_log)
        sampler = Sampler(sampled_pids(svc.pid))
        sampler.start()
        run = await driver.run(lifecycles(count, "half"), rate=rate, timeout=seconds * 6 + 60)
        usage = await sampler.stop()
        disturbed = watch.count() | ({"stalled": 1} if run.stalled else {})
    return {
        **info,
        "target_events_per_second": round(rate, 2),
        **summarize(run),
        "cpu_percent_of_one_core": {k: round(v, 1) for k, v in usage.cpu_percent.items()},
        "disturbed": disturbed,
    }


async def profiled(ctx: Context, count: int, out_dir: Path) -> dict[str, Any]:
    """Phase 6: the saturation run again, under py-spy and with timers around the parts."""
    stats_path = out_dir / f"bench-stats-{ctx.run_id}.json"
    raw_path = out_dir / f"bench-pyspy-{ctx.run_id}.txt"
    env = {"BENCH_STATS_PATH": str(stats_path)}
    async with instance(
        ctx, ctx.new_prefix("prof"), module="tests.bench.instrumented", extra_env=env
    ) as (
        svc,
        driver,
        info,
    ):
        await warm_up(driver)
        pid = svc.pid
        watch = LogWatch(svc.log_path, ctx.bench_log)
        spy = profile.start_py_spy(pid, raw_path)
        run = await driver.run(lifecycles(count, "prof"), timeout=120 + 2 * count)
        profile.stop_py_spy(spy)
        disturbed = watch.count() | ({"stalled": 1} if run.stalled else {})
        handled = handler_metrics((await svc.get("/metrics")).text)
    processed = int(sum(h["messages"] for h in handled.values()))  # warm-up included, as timers
    stats = profile.load_stats(stats_path)
    samples = profile.read_raw(raw_path) if raw_path.exists() else {}
    return {
        **info,
        **summarize(run),
        "py_spy_raw": str(raw_path),
        "timers": stats,
        "messages_processed_by_service": processed,
        "disturbed": disturbed,
        "summary": profile.summarize(samples, stats, processed, pid, len(run.inputs_done)),
    }
