"""The machine the figures came from, the one table, and the profile in a few lines."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from tests.support.service import ROOT

MB = 1024 * 1024


def _first(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def kafka_version() -> str | None:
    """From the broker jar stack.sh runs (cheap; no request)."""
    libs = ROOT / ".local" / "kafka" / "libs"
    for jar in sorted(libs.glob("kafka_2.13-*.jar")):
        return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
    return None


async def store_version(url: str) -> str | None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, serverSelectionTimeoutMS=3000)
    try:
        info = await client.admin.command("buildInfo")
        ferret = info.get("ferretdbVersion")
        return f"FerretDB {ferret} (SQLite)" if ferret else f"MongoDB {info.get('version')}"
    except Exception:
        return None
    finally:
        await client.close()


async def machine(mongodb_url: str) -> dict[str, Any]:
    mem = _first("/proc/meminfo", "MemTotal")
    versions: dict[str, str | None] = {}
    for pkg in ("faststream", "aiokafka", "pymongo", "pydantic", "rfc8785"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "memory_total_mb": None if mem is None else int(mem.split()[0]) // 1024,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "kafka": kafka_version(),
        "store": await store_version(mongodb_url),
        "packages": versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _count(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "not met")


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


Row = tuple[str, str, str, str]
Detail = tuple[str, str]


def goal_rows(results: dict[str, Any]) -> list[Row]:
    """(figure, value, goal, verdict): the issue's goals, one row each, in its order."""
    sat = results.get("saturation", {})
    grow = results.get("growth", {})
    return [
        ratio_row(sat.get("events_per_second"), results.get("bare", {})),
        throughput_row(sat),
        half_rate_row(results.get("half_rate", {})),
        growth_row(grow.get("small", {}), grow.get("big", {})),
        cpu_row(sat),
        round_trips_row(results.get("profile", {})),
        memory_row(results),
    ]


def best_bare(bare: dict[str, Any]) -> tuple[str | None, float | None]:
    """The bare pipeline's better ack mode and its rate."""
    modes = [(k, v.get("events_per_second")) for k, v in bare.items()]
    rated = [(k, float(eps)) for k, eps in modes if eps]
    return max(rated, key=lambda m: m[1]) if rated else (None, None)


def ratio_row(eps: float | None, bare: dict[str, Any]) -> Row:
    mode, ceiling = best_bare(bare)
    ratio = None if not (eps and ceiling) else eps / ceiling
    return (
        "service / bare pipeline (its better mode), saturated",
        f"{_num(ratio, digits=3)} ({_num(eps)} / {_num(ceiling)}, acks per {mode or '?'})",
        ">= 1.0",
        _verdict(None if ratio is None else ratio >= 1.0),
    )


def throughput_row(sat: dict[str, Any]) -> Row:
    eps = sat.get("events_per_second")
    return (
        "lifecycle events/s saturated, one instance",
        _num(eps),
        ">= 1,000",
        _verdict(None if eps is None else eps >= 1000),
    )


def half_rate_row(half: dict[str, Any]) -> Row:
    p99 = half.get("approval_to_manifest_p99_ms")
    return (
        "approval -> manifest p99 at half the saturated rate",
        f"{_num(p99)} ms (at {_num(half.get('target_events_per_second'))} events/s)",
        "< 50 ms",
        _verdict(None if p99 is None else p99 < 50),
    )


def size_label(n: int | None) -> str:
    return "1 M" if n is not None and n >= 1_000_000 else _count(n)


def windows_ok(run: dict[str, Any]) -> bool | None:
    """No window's p50 above twice the median of the window p50s, and no empty window."""
    lw = run.get("latency_windows", {})
    worst = lw.get("worst_over_median")
    if worst is None:
        return None if not lw.get("empty_windows") else False
    return worst <= 2.0 and not lw.get("empty_windows")


def growth_row(small: dict[str, Any], big: dict[str, Any]) -> Row:
    s_eps, b_eps = small.get("events_per_second"), big.get("events_per_second")
    ratio = None if not s_eps or b_eps is None else b_eps / s_eps
    worst = [r.get("latency_windows", {}).get("worst_over_median") for r in (small, big)]
    empty = sum(r.get("latency_windows", {}).get("empty_windows", 0) for r in (small, big))
    checks = [None if ratio is None else ratio >= 0.9, windows_ok(small), windows_ok(big)]
    verdict = None if None in checks else all(checks)
    width = big.get("window_seconds") or small.get("window_seconds") or "?"
    return (
        f"throughput at {size_label(big.get('facts_loaded'))} facts / at"
        f" {size_label(small.get('facts_loaded'))}; worst {width} s window p50 / median",
        f"{_num(ratio, digits=3)}; {' / '.join(_num(w, digits=2) for w in worst)}"
        + (f" ({empty} windows without a manifest)" if empty else ""),
        ">= 0.9; <= 2 in every window",
        _verdict(verdict),
    )


def cpu_row(sat: dict[str, Any]) -> Row:
    ms = sat.get("service_cpu_ms_per_input_event")
    return (
        "service CPU per input event (saturated)",
        _num(ms, " ms", digits=2),
        "<= 0.8 ms",
        _verdict(None if ms is None else ms <= 0.8),
    )


def round_trips_row(prof: dict[str, Any]) -> Row:
    per = prof.get("store_round_trips_per_input_event")
    return (
        "store round trips per input event (counted, saturated)",
        _num(per, digits=2),
        "<= 0.5",
        _verdict(None if per is None else per <= 0.5),
    )


def peak_rss(results: dict[str, Any]) -> tuple[int | None, str | None]:
    """The highest service RSS any plain-service phase saw (psutil samples or VmHWM)."""
    grow = results.get("growth", {})
    phases = {
        "saturation": results.get("saturation", {}),
        "half rate": results.get("half_rate", {}),
        **{f"growth {k}": v for k, v in grow.items()},
    }
    seen = []
    for name, ph in phases.items():
        for value in (ph.get("peak_rss_bytes", {}).get("service"), ph.get("service_vm_hwm_bytes")):
            if value:
                seen.append((int(value), name))
    return max(seen) if seen else (None, None)


def memory_row(results: dict[str, Any]) -> Row:
    peak, where = peak_rss(results)
    return (
        "service peak RSS",
        f"{_num(peak and peak / MB, ' MB')} ({where or '?'})",
        "< 250 MB",
        _verdict(None if not peak else peak < 250 * MB),
    )


def detail_rows(results: dict[str, Any]) -> list[Detail]:
    """(figure, value): what the goals rest on, and the spans every figure came from."""
    sat = results.get("saturation", {})
    grow = results.get("growth", {})
    return [
        *span_rows(results),
        *saturation_details(sat),
        *bare_details(results.get("bare", {})),
        *profile_details(results.get("profile", {})),
        *growth_details(grow.get("small", {}), grow.get("big", {})),
    ]


def _phases(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    bare = results.get("bare", {})
    grow = results.get("growth", {})
    return {
        "saturation": results.get("saturation", {}),
        "half rate": results.get("half_rate", {}),
        "bare, acks per message": bare.get("message", {}),
        "bare, acks per batch": bare.get("batch", {}),
        "profile": results.get("profile", {}),
        "growth, small": grow.get("small", {}),
        "growth, big": grow.get("big", {}),
    }


def span_rows(results: dict[str, Any]) -> list[Detail]:
    """Each phase's warm-up (apart) and steady span: seconds and events/s."""
    out: list[Detail] = []
    for name, ph in _phases(results).items():
        if not ph:
            continue
        if "error" in ph:
            out.append((f"{name}: failed", str(ph["error"])[:80]))
            continue
        warm = ph.get("warm_up", {})
        flags = " (pool used up: not saturated to the end)" if ph.get("pool_exhausted") else ""
        out.append(
            (
                f"{name}: warm-up / steady span, events/s",
                f"{_num(warm.get('seconds'), ' s')} at {_num(warm.get('events_per_second'))}"
                f" / {_num(ph.get('steady_seconds'), ' s')} at"
                f" {_num(ph.get('events_per_second'))}{flags}",
            )
        )
    return out


def _series(values: list[Any], digits: int = 0) -> str:
    return ", ".join("-" if v is None else f"{v:,.{digits}f}" for v in values)


def saturation_details(sat: dict[str, Any]) -> list[Detail]:
    cpu = sat.get("cpu_percent_of_one_core", {})
    return [
        (
            f"saturated events/s by {sat.get('window_seconds', '?')} s window",
            _series(sat.get("events_per_second_by_window", [])),
        ),
        (
            "saturated approval -> manifest p50 / p99 (ms, incl. queueing)",
            f"{_num(sat.get('approval_to_manifest_p50_ms'))} /"
            f" {_num(sat.get('approval_to_manifest_p99_ms'))}",
        ),
        (
            "saturated: events/s one core could carry at that CPU per event",
            _num(sat.get("cpu_bound_ceiling_events_per_second_one_core")),
        ),
        (
            "saturated: outputs published again (same id) / distinct outputs",
            f"{sat.get('duplicate_outputs')} / {sat.get('outputs_seen')}",
        ),
        (
            "saturated CPU, % of one core: service / store / kafka / bench",
            " / ".join(_num(cpu.get(k), digits=0) for k in ("service", "store", "kafka", "bench")),
        ),
    ]


def bare_details(bare: dict[str, Any]) -> list[Detail]:
    return [
        (
            f"bare pipeline events/s, acks per {ack}",
            _num(bare.get(ack, {}).get("events_per_second")),
        )
        for ack in ("message", "batch")
    ]


def profile_details(prof: dict[str, Any]) -> list[Detail]:
    return [
        (
            "store round trips counted over the profile's steady span / input events",
            f"{prof.get('store_round_trips_counted')} / {prof.get('input_events_done')}",
        ),
        ("flame graph of the saturated steady span (py-spy SVG)", str(prof.get("flamegraph_svg"))),
    ]


def growth_details(small: dict[str, Any], big: dict[str, Any]) -> list[Detail]:
    """Throughput and p50 by window with few and many facts stored, one query's cost."""
    out: list[Detail] = []
    for size in (small, big):
        n = _count(size.get("facts_loaded"))
        out.append((f"service events/s with {n} facts stored", _num(size.get("events_per_second"))))
        out.append(
            (
                f"  approval -> manifest p50 by {size.get('window_seconds', '?')} s window (ms)",
                _series(size.get("approval_to_manifest_p50_ms_by_window", [])),
            )
        )
    probe = "load_packet: find {packet_id}"
    small_q = small.get("query_ms_at_this_size", {}).get(probe)
    big_q = big.get("query_ms_at_this_size", {}).get(probe)
    out.append(("one find {packet_id} on the facts, small / big size (ms)", f"{small_q} / {big_q}"))
    out.append(
        (
            "store load rate, insert_many of fact docs (facts/s)",
            _num(big.get("facts_per_second") or small.get("facts_per_second")),
        )
    )
    return out


def _grid(head: tuple[str, ...], body: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    text = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    text.append("  ".join("-" * w for w in widths))
    text += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return text


def table(results: dict[str, Any]) -> str:
    """The goals, each with its figure and verdict, then the details they rest on."""
    text = []
    if results.get("label"):
        text += [f"*** {results['label']} ***", ""]
    text += _grid(("figure", "value", "goal", "verdict"), goal_rows(results))
    text += ["", *_grid(("detail", "value"), detail_rows(results))]
    return "\n".join(line.rstrip() for line in text)


def plan_text(seconds: dict[str, float], quick: bool) -> str:
    total = sum(seconds.values())
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    mode = "quick (not a measurement)" if quick else "measurement"
    return f"plan ({mode}): about {total / 60:.1f} min in all: {parts}"


def profile_text(prof: dict[str, Any]) -> str:
    summary = prof.get("summary", {})
    if not summary:
        return "profile: not taken"
    lines = [
        f"profile ({summary.get('samples_main_thread', 0)} py-spy samples of the main thread;"
        f" busy {100 * summary.get('busy_fraction', 0):.0f}% of wall):"
    ]
    cpu = summary.get("cpu_ms_per_input_event", {})
    for name, pct in summary.get("components_percent_of_wall", {}).items():
        per = f"{cpu[name]:6.3f} ms CPU/event" if name in cpu else " " * 18
        lines.append(f"  {pct:5.1f}%  {per}  {name}")
    per = summary.get("per_input_event", {})
    if per:
        lines.append(
            f"per input event ({per['events_processed']} processed; store round trips per event,"
            f" background loops included: {per['store_round_trips_per_event']}):"
        )
        for name, row in list(per["parts"].items())[:16]:
            lines.append(
                f"  {row['ms_per_event']:9.2f} ms  {row['calls_per_event']:5.2f} calls"
                f"  {row['ms_per_call']:9.2f} ms/call  {name}"
            )
    top = summary.get("top_self_percent_of_cpu", {})
    if top:
        lines.append("top functions by own CPU time (% of busy samples):")
        lines += [f"  {pct:5.1f}%  {fn}" for fn, pct in list(top.items())[:10]]
    return "\n".join(lines)
