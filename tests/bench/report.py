"""The machine the figures came from, the one table, and the profile in a few lines."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
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
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


Row = tuple[str, str, str, str]


def rows(results: dict[str, Any]) -> list[Row]:
    """(figure, value, goal, verdict) for the table, from the results dictionary."""
    sat = results.get("saturation", {})
    grow = results.get("growth", {})
    return [
        *saturation_rows(sat),
        *half_rate_rows(results.get("half_rate", {})),
        *bare_rows(results.get("bare", {}), sat.get("events_per_second")),
        *growth_rows(grow.get("small", {}), grow.get("big", {})),
        memory_row(sat),
    ]


def saturation_rows(sat: dict[str, Any]) -> list[Row]:
    eps = sat.get("events_per_second")
    facts_end = sat.get("facts_stored_at_end")
    quarters = ", ".join(f"{q:g}" for q in sat.get("events_per_second_by_quarter", []))
    cpu_ms = sat.get("service_cpu_ms_per_input_event")
    ceiling = sat.get("cpu_bound_ceiling_events_per_second_one_core")
    dups, seen = sat.get("duplicate_outputs"), sat.get("outputs_seen")
    cpu = sat.get("cpu_percent_of_one_core", {})
    return [
        (
            f"service, saturated: lifecycle events/s ({sat.get('lifecycles')} lifecycles)",
            _num(eps),
            ">= 1,000",
            _verdict(None if eps is None else eps >= 1000),
        ),
        (f"  same run, by quarter (the store grows to {facts_end} facts)", quarters, "", ""),
        (
            "  approval -> manifest p50 / p99 at saturation (ms, incl. queueing)",
            f"{_num(sat.get('approval_to_manifest_p50_ms'))} / "
            f"{_num(sat.get('approval_to_manifest_p99_ms'))}",
            "",
            "",
        ),
        (
            "  service CPU per input event (ms) -> events/s one core could carry",
            f"{_num(cpu_ms, digits=2)} -> {_num(ceiling)}",
            "",
            "",
        ),
        ("  outputs published again (same id) / distinct outputs", f"{dups} / {seen}", "", ""),
        (
            "  CPU while saturated, % of one core: service / store / kafka / bench",
            " / ".join(_num(cpu.get(k), digits=0) for k in ("service", "store", "kafka", "bench")),
            "",
            "",
        ),
    ]


def half_rate_rows(half: dict[str, Any]) -> list[Row]:
    p99 = half.get("approval_to_manifest_p99_ms")
    return [
        (
            f"half rate ({_num(half.get('target_events_per_second'))} ev/s): approval -> "
            "manifest p50 / p99 (ms)",
            f"{_num(half.get('approval_to_manifest_p50_ms'))} / {_num(p99)}",
            "p99 < 50",
            _verdict(None if p99 is None else p99 < 50),
        )
    ]


def bare_rows(bare: dict[str, Any], eps: float | None) -> list[Row]:
    """The ceiling, and the saturated service's rate (`eps`) as a share of it."""
    per_msg = bare.get("message", {}).get("events_per_second")
    per_batch = bare.get("batch", {}).get("events_per_second")
    ratio = None if not (eps and per_msg) else eps / per_msg
    out: list[Row] = [
        ("bare pipeline events/s (ack awaited per message)", _num(per_msg), "", ""),
        ("bare pipeline events/s (acks awaited per batch)", _num(per_batch), "", ""),
        (
            "ratio service / bare (per-message acks)",
            _num(ratio, digits=3),
            ">= 0.7",
            _verdict(None if ratio is None else ratio >= 0.7),
        ),
    ]
    if eps and per_batch:
        out.append(
            ("  ratio service / bare (per-batch acks)", _num(eps / per_batch, digits=3), "", "")
        )
    return out


def growth_rows(small: dict[str, Any], big: dict[str, Any]) -> list[Row]:
    """Throughput with few and with many facts stored, their ratio, and one query's cost."""
    s_eps, b_eps = small.get("events_per_second"), big.get("events_per_second")
    out: list[Row] = [
        (
            f"service events/s with {_count(size.get('facts_loaded'))} facts stored"
            f" ({size.get('window_seconds', '?')} s window)",
            _num(size.get("events_per_second"), digits=2),
            "",
            "no input completed in the window" if size.get("input_events_done") == 0 else "",
        )
        for size in (small, big)
    ]
    big_n = big.get("facts_loaded")
    growth_ratio = None if not s_eps or b_eps is None else b_eps / s_eps
    label = "1 M" if big_n is not None and big_n >= 1_000_000 else f"{big_n:,}" if big_n else "?"
    out.append(
        (
            f"throughput at {label} facts / at 10 k",
            _num(growth_ratio, digits=3),
            ">= 0.9 (at 1 M)",
            _verdict(None if growth_ratio is None else growth_ratio >= 0.9),
        )
    )
    probe = "load_packet: find {packet_id}"
    small_q = small.get("query_ms_at_this_size", {}).get(probe)
    big_q = big.get("query_ms_at_this_size", {}).get(probe)
    if isinstance(small_q, float | int) and big_n and small.get("facts_loaded"):
        big_q = (
            f"{big_q} (linear from 10 k: ~{small_q * big_n / small['facts_loaded'] / 1000:,.0f} s)"
        )
    out.append(
        (
            "one find {packet_id} on the facts at 10 k / at the big size (ms)",
            f"{_num(small_q, digits=0) if isinstance(small_q, float | int) else small_q} / {big_q}",
            "",
            "",
        )
    )
    out.append(
        (
            "store load rate, insert_many of fact docs (facts/s)",
            _num(big.get("facts_per_second") or small.get("facts_per_second")),
            "",
            "",
        )
    )
    return out


def memory_row(sat: dict[str, Any]) -> Row:
    rss = sat.get("peak_rss_bytes", {}).get("service")
    hwm = sat.get("service_vm_hwm_bytes")
    peak = max(x for x in (rss, hwm, 0) if x is not None)
    return (
        "service peak RSS: psutil samples / VmHWM (MB)",
        f"{_num(rss and rss / MB)} / {_num(hwm and hwm / MB)}",
        "< 250",
        _verdict(None if not peak else peak < 250 * MB),
    )


def table(results: dict[str, Any]) -> str:
    body = rows(results)
    widths = [
        max(len(r[i]) for r in [("figure", "value", "goal", "verdict"), *body]) for i in range(4)
    ]
    line = "  ".join("-" * w for w in widths)
    head = "  ".join(
        h.ljust(w) for h, w in zip(("figure", "value", "goal", "verdict"), widths, strict=True)
    )
    text = [head, line]
    text += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(text)


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
