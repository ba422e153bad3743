"""py-spy around the service, and what its samples and the part timers say together."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

Stack = tuple[str, ...]

# Leaf-first: a sample belongs to the first frame (from the leaf up) whose file matches.
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("canonical JSON + sha256 (rfc8785, hashing)", ("/rfc8785/", "/hashlib", "canonical.py")),
    ("Ed25519 signature check", ("/cryptography/", "signing.py")),
    ("pydantic validation", ("/pydantic/", "/pydantic_core/")),
    ("JSON encode/decode (stdlib json)", ("/json/", "jsonio.py")),
    ("PyMongo + BSON (driver side of store round trips)", ("/pymongo/", "/bson/")),
    ("aiokafka (produce, fetch, group)", ("/aiokafka/",)),
    ("FastStream (broker, subscriber, middlewares)", ("/faststream/", "/fast_depends/")),
    ("logging (JSON lines)", ("/logging/", "service/logs.py")),
    ("prometheus metrics", ("/prometheus_client/", "service/metrics.py", "service/observe.py")),
    ("domain (decide, fold, facts)", ("service/domain/",)),
    ("service glue (gate, handlers, adapters)", ("service/",)),
    ("uvicorn / HTTP", ("/uvicorn/", "/h11/", "/httptools/")),
]
RATE = 200  # py-spy samples per second (non-blocking: the service is not paused)
IDLE = "event loop idle (waiting on store/broker I/O)"


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start_py_spy(pid: int, out: Path, rate: int = RATE) -> subprocess.Popen[bytes] | None:
    exe = py_spy()
    if exe is None:
        return None
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    cmd += ["--output", str(out), "--idle", "--threads", "--full-filenames", "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_flamegraph(pid: int, svg: Path, rate: int = RATE) -> subprocess.Popen[bytes] | None:
    """py-spy's own flame graph (SVG) of the on-CPU stacks, until stop_py_spy."""
    exe = py_spy()
    if exe is None:
        return None
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "flamegraph"]
    cmd += ["--output", str(svg), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def read_raw(path: Path) -> dict[Stack, int]:
    """py-spy's raw format: `thread (tid);frame;frame... count`, root first."""
    stacks: dict[Stack, int] = {}
    for line in path.read_text().splitlines():
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit():
            continue
        frames = tuple(body.split(";"))
        stacks[frames] = stacks.get(frames, 0) + int(count)
    return stacks


def load_stats(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


async def snapshot(pid: int, path: Path, n: int, within: float = 10) -> dict[str, Any]:
    """Ask tests/bench/instrumented.py for its `n`-th snapshot (SIGUSR1) and read it."""
    target = path.with_name(f"{path.name}.{n}")
    os.kill(pid, signal.SIGUSR1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not target.exists() and loop.time() < deadline:
        await asyncio.sleep(0.05)  # the service writes it from its signal handler
    return load_stats(target)


def difference(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """Calls and seconds of every timer between two snapshots."""
    out = {}
    for name, t in after.items():
        was = before.get(name, {"calls": 0, "seconds": 0.0})
        out[name] = {"calls": t["calls"] - was["calls"], "seconds": t["seconds"] - was["seconds"]}
    return out


def store_round_trips(timers: dict[str, Any]) -> int:
    """Every MongoDB command counted (failed ones too), from instrumented.py's `mongo.*`."""
    return int(sum(t["calls"] for n, t in timers.items() if n.startswith("mongo.")))


def _is_idle(frames: Stack) -> bool:
    leaf = frames[-1]
    return leaf.startswith(("select (", "poll (", "epoll")) or "selectors.py" in leaf


def component_of(frames: Stack) -> str:
    """The first library or layer above the leaf, looking through asyncio's own frames (a
    socket write belongs to whoever wrote) and stopping at the loop (above is start-up)."""
    if _is_idle(frames):
        return IDLE
    for frame in reversed(frames[1:]):
        if "run_forever (" in frame:
            break
        if "/asyncio/" in frame or "selectors.py" in frame:
            continue
        for name, needles in COMPONENTS:
            if any(n in frame for n in needles):
                return name
    return "asyncio event loop" if any("/asyncio/" in f for f in frames) else "other"


def _short(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})"


def summarize(
    stacks: dict[Stack, int],
    timers: dict[str, Any],
    processed: int,
    pid: int,
    sampled_events: int = 0,
    rate: int = RATE,
) -> dict[str, Any]:
    """Wall shares by component, top CPU functions, and the part timers per input event."""
    main = {s: n for s, n in stacks.items() if s and s[0].startswith(f"thread ({pid})")}
    total = sum(main.values())
    out: dict[str, Any] = {"samples_main_thread": total}
    if total:
        busy = {s: n for s, n in main.items() if not _is_idle(s)}
        out["busy_fraction"] = round(sum(busy.values()) / total, 3)
        comps: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        for frames, n in main.items():
            comps[component_of(frames)] += n
            if frames in busy:
                leaves[_short(frames[-1])] += n
                for frame in set(frames[1:]):
                    if "/service/" in frame:
                        inclusive[_short(frame)] += n
        out["components_percent_of_wall"] = {
            k: round(100 * v / total, 1) for k, v in comps.most_common()
        }
        if sampled_events:  # on-CPU milliseconds per input event, by component
            out["cpu_ms_per_input_event"] = {
                k: round(1000 * v / rate / sampled_events, 3)
                for k, v in comps.most_common()
                if k != IDLE
            }
        busy_total = max(sum(busy.values()), 1)
        out["top_self_percent_of_cpu"] = {
            k: round(100 * v / busy_total, 1) for k, v in leaves.most_common(15)
        }
        out["top_service_inclusive_percent_of_cpu"] = {
            k: round(100 * v / busy_total, 1) for k, v in inclusive.most_common(15)
        }
    if timers and processed:
        out["per_input_event"] = per_event(timers, processed)
    return out


def per_event(timers: dict[str, Any], processed: int) -> dict[str, Any]:
    """Calls and wall milliseconds per processed input event, for every timed part.

    Wall times of concurrent calls overlap (partitions and topics run side by side), so
    the rows say where a message waits, not shares of one clock."""
    rows = {}
    parts = {k: v for k, v in timers.items() if not k.startswith("_")}
    for name, t in sorted(parts.items(), key=lambda kv: -kv[1]["seconds"]):
        rows[name] = {
            "calls_per_event": round(t["calls"] / processed, 2),
            "ms_per_event": round(1000 * t["seconds"] / processed, 2),
            "ms_per_call": round(1000 * t["seconds"] / max(t["calls"], 1), 2),
        }
    return {
        "events_processed": processed,
        "store_round_trips_per_event": round(store_round_trips(parts) / processed, 2),
        "parts": rows,
    }
