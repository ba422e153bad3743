"""`python -m tests.bench.run [--quick|--full] [--out PATH]`: the benchmark (docs/design.md).

On the local stack (ops/stack/stack.sh up), in one run: the service's saturated lifecycle
throughput and approval->manifest latency, the latency at half that rate, the bare
pipeline's ceiling and the ratio, the throughput with 10 k and with up to 1 M facts
stored, the service's peak RSS, and a py-spy profile of a saturated service. Prints one
table and writes it, with the machine and every raw figure, as JSON. Figures, never
asserts: this is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
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
from tests.bench.workload import FactCloner
from tests.support.service import ROOT

MILLION = 1_000_000
LOAD_BUDGET_SECONDS = 300.0  # the largest count that loads in <= 5 min stands in for 1 M


@dataclass(frozen=True)
class Plan:
    lifecycles: int  # saturation run
    half_seconds: float
    bare_messages: int
    small_facts: int
    big_facts: int
    big_load_budget: float | None
    growth_window: float
    profile_lifecycles: int
    probe_cap: float  # seconds a timed store query may run (maxTimeMS)


def plan_of(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan(60, 8, 400, 10_000, 30_000, 60, 10, 30, 3)
    else:
        budget = None if args.full else LOAD_BUDGET_SECONDS
        plan = Plan(200, 30, 3000, 10_000, MILLION, budget, 60, 100, 10)
    if args.lifecycles:
        plan = Plan(args.lifecycles, *list(plan.__dict__.values())[1:])
    return plan


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a short run (< 3 min)")
    mode.add_argument(
        "--full", action="store_true", help="load the full 1 M facts however long it takes"
    )
    parser.add_argument("--out", default="bench-results.json", help="JSON results path")
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic")
    parser.add_argument("--lifecycles", type=int, default=0, help="saturation run size")
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
    results["plan"] = plan.__dict__
    results["machine"] = await report.machine(ctx.mongodb_url)
    started = time.perf_counter()
    await saturation_and_half_rate(ctx, plan, results)
    await bare_ceiling(ctx, plan, 1 if args.quick else 2, results)
    if args.no_profile:
        results["profile"] = {}
    else:
        say(f"4/6 profile: {plan.profile_lifecycles} lifecycles under py-spy and part timers")
        results["profile"] = await phase(
            ctx, "profile", lambda: phases.profiled(ctx, plan.profile_lifecycles, ROOT / ".local")
        )
    # Growth last: a killed service leaves store scans of the big database running for
    # minutes, which would slow whatever came next (and delay dropping it).
    await growth_with_facts_stored(ctx, plan, results)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]


async def saturation_and_half_rate(ctx: Context, plan: Plan, results: dict[str, Any]) -> None:
    """Phases 1 and 2: the saturated rate, then the latency at half of it."""
    say(f"1/6 saturation: {plan.lifecycles} lifecycles through a fresh instance")
    sat = await phase(ctx, "saturation", lambda: phases.saturation(ctx, plan.lifecycles))
    results["saturation"] = sat
    eps = sat.get("events_per_second") or 0.0
    say(f"    {eps} events/s, p99 {sat.get('approval_to_manifest_p99_ms')} ms")

    say(f"2/6 half rate: {eps / 2:.1f} events/s for {plan.half_seconds} s")
    half = await phase(ctx, "half rate", lambda: phases.half_rate(ctx, eps, plan.half_seconds))
    results["half_rate"] = half
    say(f"    p99 {half.get('approval_to_manifest_p99_ms')} ms")


async def bare_ceiling(ctx: Context, plan: Plan, rounds: int, results: dict[str, Any]) -> None:
    """Phase 3: the ceiling, acks awaited per message and per batch, best of `rounds`."""
    say(f"3/6 bare pipeline: {plan.bare_messages} messages, acks per message / per batch x{rounds}")
    tries: dict[str, list[dict[str, Any]]] = {"message": [], "batch": []}
    for _ in range(rounds):  # interleaved, best of the rounds: a ceiling, on a shared machine
        for ack in tries:
            make = functools.partial(ceiling.bare_pipeline, ctx, plan.bare_messages, ack)
            tries[ack].append(await phase(ctx, f"bare/{ack}", make))

    results["bare"] = {
        ack: {
            **sorted(runs, key=lambda r: float(r.get("events_per_second") or 0.0))[-1],
            "all_rounds_events_per_second": [r.get("events_per_second") for r in runs],
        }
        for ack, runs in tries.items()
    }
    say(f"    {results['bare']['message'].get('events_per_second')} events/s")


async def growth_with_facts_stored(ctx: Context, plan: Plan, results: dict[str, Any]) -> None:
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
        say(f"{step}/6 growth: {facts:,} facts{limit}, then a {plan.growth_window} s window")
        try:
            grown = await growth.growth(
                ctx, facts, plan.growth_window, cloner, tag, budget, plan.probe_cap
            )
        except TRANSIENT as exc:  # the load itself failed beyond repair: say so, go on
            grown = {"error": repr(exc)[:300]}
        results["growth"][name] = grown
        say(
            f"    {grown.get('facts_loaded')} facts in {grown.get('load_seconds')} s;"
            f" {grown.get('events_per_second')} events/s"
        )


def write(out: str, ctx: Context, results: dict[str, Any]) -> None:
    results["table"] = [
        dict(zip(("figure", "value", "goal", "verdict"), r, strict=True))
        for r in report.rows(results)
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
    try:
        await measure(args, ctx, plan_of(args), results)
    except BaseException as exc:
        results["aborted"] = repr(exc)[:500]
        raise
    finally:
        write(args.out, ctx, results)  # before the clean-up, which can take minutes
        if "aborted" not in results:
            print(report.table(results))
            print()
            print(report.profile_text(results.get("profile", {})))
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
