"""`python -m tests.bench.run [--quick|--full] [--out PATH]`: the benchmark (docs/design.md).

On the local stack (ops/stack/stack.sh up), in one run: the service's saturated lifecycle
throughput, approval->manifest latency and CPU per input event, the latency at half that
rate, the bare pipeline's ceiling and the ratio, the store round trips per input event
(counted) and a py-spy profile and flame graph of a saturated service, the throughput and
the latency by window with 10 k and with up to 1 M facts stored, the service's peak RSS.
Every phase warms up (reported apart), then measures a steady span: 10 s + 30 s by
default, a few seconds with --quick (not a measurement). Prints the goals table and the
details and writes them, with the machine and every raw figure, as JSON. Figures, never
asserts: this is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import ceiling, growth, phases, report
from tests.bench.context import Context, clean_all
from tests.bench.resilience import TRANSIENT, check_stack, phase, say
from tests.bench.steady import Timing
from tests.bench.workload import FactCloner
from tests.support.service import ROOT

MILLION = 1_000_000
LOAD_BUDGET_SECONDS = 300.0  # the largest count that loads in <= 5 min stands in for 1 M
QUICK_LABEL = "quick: not a measurement (steady phases of a few seconds)"


@dataclass(frozen=True)
class Plan:
    timing: Timing  # the service's phases: saturation, half rate, profile, growth
    bare_timing: Timing
    bare_rounds: int
    small_facts: int
    big_facts: int
    big_load_budget: float | None
    probe_cap: float  # seconds a timed store query may run (maxTimeMS)


def plan_of(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(Timing(2, 3, 1, args.backlog), Timing(1, 3, 1, 0), 1, 5_000, 10_000, 5, 1)
    budget = None if args.full else LOAD_BUDGET_SECONDS
    timing = Timing(10, 30, 5, args.backlog)
    return Plan(timing, Timing(10, 30, 5, 0), 1, 10_000, MILLION, budget, 10)


# Rough costs (seconds) beside the timed spans, seen on the 2-core machine (a --quick run).
INSTANCE = 8.0  # topics, start until ready (group joined), graceful stop
BARE_INSTANCE = 2.5  # launch, join, 20 messages through, stop
LIFECYCLE_MAKE = 0.00035  # pre-encoding one lifecycle (signatures, hashes, JSON)
LOAD_FACTS_PER_SECOND = 4000.0
SLOW_PROBES = 2  # of the four timed queries, those that scan (and may reach the cap)
CLEANUP = 60.0  # topics and databases dropped (the big one waits up to a minute)
STACK = 15.0  # stack.sh run: Kafka and the store started (storage formatted before), stopped


def planned(plan: Plan) -> dict[str, float]:
    """Seconds each phase should take, from the plan alone (a phase the stack disturbed
    runs again, on top of this)."""
    t, b = plan.timing, plan.bare_timing
    made = phases.SATURATION_POOL_RATE * t.seconds / 4 * LIFECYCLE_MAKE
    big_load = 1.25 * plan.big_facts / LOAD_FACTS_PER_SECOND  # it slows as the store grows
    if plan.big_load_budget is not None:
        big_load = min(big_load, plan.big_load_budget)
    probes = SLOW_PROBES * plan.probe_cap
    return {
        "stack": STACK,
        "saturation": made + INSTANCE + t.seconds,
        "half rate": INSTANCE + t.seconds,
        "bare pipeline": plan.bare_rounds * 2 * (BARE_INSTANCE + b.seconds),
        "profile": made + INSTANCE + t.seconds + 2,  # py-spy writes its files
        "growth small": plan.small_facts / LOAD_FACTS_PER_SECOND + probes + INSTANCE + t.seconds,
        "growth big": big_load + probes + INSTANCE + t.seconds,
        "clean-up": CLEANUP if plan.big_facts >= MILLION else 5.0,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="a short run (< 2 min): not a measurement"
    )
    mode.add_argument(
        "--full", action="store_true", help="load the full 1 M facts however long it takes"
    )
    parser.add_argument("--out", default="bench-results.json", help="JSON results path")
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic")
    parser.add_argument(
        "--backlog", type=int, default=200, help="lifecycles in flight while saturated"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy pass")
    parser.add_argument("--keep", action="store_true", help="keep the databases and topics")
    parser.add_argument(
        "--clean",
        action="store_true",
        help="only drop what earlier bench runs left (bench_* databases, bench-* topics)",
    )
    return parser.parse_args(argv)


async def measure(
    args: argparse.Namespace, ctx: Context, plan: Plan, results: dict[str, Any]
) -> None:
    """Fills `results` phase by phase, so whatever was measured survives a later failure."""
    results["mode"] = "quick" if args.quick else "full" if args.full else "default"
    if args.quick:
        results["label"] = QUICK_LABEL
    results["plan"] = dataclasses.asdict(plan)
    results["planned_seconds"] = {k: round(v) for k, v in planned(plan).items()}
    results["machine"] = await report.machine(ctx.mongodb_url)
    started = time.perf_counter()
    await saturation_and_half_rate(ctx, plan, results)
    await bare_ceiling(ctx, plan, results)
    eps = float(results["saturation"].get("events_per_second") or 0.0)
    if args.no_profile:
        results["profile"] = {}
    else:
        say(f"4/6 profile: saturated under py-spy and part timers, {steady_text(plan.timing)}")
        results["profile"] = await phase(
            ctx, "profile", lambda: phases.profiled(ctx, eps, plan.timing, ROOT / ".local")
        )
        say(f"    flame graph: {results['profile'].get('flamegraph_svg')}")
    # Growth last: a killed service leaves store scans of the big database running for
    # minutes, which would slow whatever came next (and delay dropping it).
    await growth_with_facts_stored(ctx, plan, max(2 * eps, 400.0), results)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]


def steady_text(t: Timing) -> str:
    return f"{t.warm:g} s warm-up + {t.steady:g} s steady"


async def saturation_and_half_rate(ctx: Context, plan: Plan, results: dict[str, Any]) -> None:
    """Phases 1 and 2: the saturated rate, then the latency at half of it."""
    t = plan.timing
    say(f"1/6 saturation: {t.backlog} lifecycles in flight, {steady_text(t)}")
    sat = await phase(ctx, "saturation", lambda: phases.saturation(ctx, t))
    results["saturation"] = sat
    eps = sat.get("events_per_second") or 0.0
    say(
        f"    {eps} events/s steady (warm-up {sat.get('warm_up', {}).get('events_per_second')}),"
        f" p99 {sat.get('approval_to_manifest_p99_ms')} ms"
    )

    say(f"2/6 half rate: {eps / 2:.1f} events/s, {steady_text(t)}")
    half = await phase(ctx, "half rate", lambda: phases.half_rate(ctx, eps, t))
    results["half_rate"] = half
    say(f"    p99 {half.get('approval_to_manifest_p99_ms')} ms")


async def bare_ceiling(ctx: Context, plan: Plan, results: dict[str, Any]) -> None:
    """Phase 3: the ceiling, acks awaited per message and per batch, best of the rounds."""
    rounds, t = plan.bare_rounds, plan.bare_timing
    say(f"3/6 bare pipeline: acks per message / per batch x{rounds}, {steady_text(t)} each")
    tries: dict[str, list[dict[str, Any]]] = {"message": [], "batch": []}
    for _ in range(rounds):  # interleaved, best of the rounds: a ceiling, on a shared machine
        for ack in tries:
            make = functools.partial(ceiling.bare_pipeline, ctx, t, ack)
            tries[ack].append(await phase(ctx, f"bare/{ack}", make))

    results["bare"] = {
        ack: {
            **sorted(runs, key=lambda r: float(r.get("events_per_second") or 0.0))[-1],
            "all_rounds_events_per_second": [r.get("events_per_second") for r in runs],
        }
        for ack, runs in tries.items()
    }
    say(
        f"    {results['bare']['message'].get('events_per_second')} /"
        f" {results['bare']['batch'].get('events_per_second')} events/s"
    )


async def growth_with_facts_stored(
    ctx: Context, plan: Plan, pool_rate: float, results: dict[str, Any]
) -> None:
    """Phases 5 and 6: the throughput with the small, then the big number of facts stored."""
    cloner = FactCloner()
    results["fact_documents"] = {
        "facts_per_packet": cloner.facts_per_packet,
        "kinds": cloner.kinds,
        "mean_json_bytes_per_fact": cloner.fact_bytes // cloner.facts_per_packet,
    }
    results["growth"] = {}
    sizes = [
        ("small", plan.small_facts, None, "gsmall"),
        ("big", plan.big_facts, plan.big_load_budget, "gbig"),
    ]
    for step, (name, facts, budget, tag) in enumerate(sizes, start=5):
        limit = f" (as many as load in {budget:.0f} s)" if budget else ""
        say(f"{step}/6 growth: {facts:,} facts{limit}, then {steady_text(plan.timing)}")
        try:
            grown = await growth.growth(
                ctx, facts, plan.timing, pool_rate, cloner, tag, budget, plan.probe_cap
            )
        except TRANSIENT as exc:  # the load itself failed beyond repair: say so, go on
            grown = {"error": repr(exc)[:300]}
        results["growth"][name] = grown
        worst = grown.get("latency_windows", {}).get("worst_over_median")
        say(
            f"    {grown.get('facts_loaded')} facts in {grown.get('load_seconds')} s;"
            f" {grown.get('events_per_second')} events/s; worst window p50 / median {worst}"
        )


def write(out: str, ctx: Context, results: dict[str, Any]) -> None:
    results["table"] = [
        dict(zip(("figure", "value", "goal", "verdict"), r, strict=True))
        for r in report.goal_rows(results)
    ]
    results["details"] = [
        dict(zip(("figure", "value"), r, strict=True)) for r in report.detail_rows(results)
    ]
    results["service_logs"] = str(ctx.workdir)
    Path(out).write_text(json.dumps(results, indent=2, default=str) + "\n")


async def main(args: argparse.Namespace) -> int:
    ctx = Context(
        bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        mongodb_url=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017"),
        partitions=args.partitions,
        workdir=Path(tempfile.mkdtemp(prefix="bench-")),
        keep=args.keep,
    )
    logging.basicConfig(filename=ctx.bench_log, level=logging.WARNING)  # keep stdout for figures
    await check_stack(ctx)
    if args.clean:
        return await clean(ctx)
    (ROOT / ".local").mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    plan = plan_of(args)
    say(report.plan_text(planned(plan), args.quick))
    try:
        await measure(args, ctx, plan, results)
    except BaseException as exc:
        results["aborted"] = repr(exc)[:500]
        raise
    finally:
        write(args.out, ctx, results)  # before the clean-up, which can take minutes
        if "aborted" not in results:
            print(report.table(results))
            print()
            print(report.profile_text(results.get("profile", {})))
            print(f"flame graph: {results.get('profile', {}).get('flamegraph_svg')}")
            print(f"\nmachine: {json.dumps(results.get('machine'))}")
            print(f"results: {args.out}; service logs: {ctx.workdir}", flush=True)
        say("cleaning up the bench's databases and topics")
        left = await ctx.cleanup()
        if left:
            say(
                f"not dropped yet (the store finishes a killed service's scans first):"
                f" {', '.join(left)}; later: python -m tests.bench.run --clean"
            )
    return 0


async def clean(ctx: Context) -> int:
    """Drop every bench database and topic: for leftovers of interrupted or slow clean-ups."""
    left = await clean_all(ctx)
    say("nothing left" if not left else f"still there: {', '.join(left)}")
    return 0 if not left else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
