"""The service under test as a process, and a sampler of CPU and memory of every process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.support.service import ROOT, ServiceProcess

# Production intervals (service/settings.py defaults), not the e2e fixture's fast ones:
# background loops poll the store, and their cost belongs in a throughput figure.
PRODUCTION_LOOPS = {
    "SCHEDULER_INTERVAL_SECONDS": "1.0",
    "RELAY_INTERVAL_SECONDS": "2.0",
    "GOVERNANCE_POLL_SECONDS": "2.0",
    "MONITOR_INTERVAL_SECONDS": "5.0",
}
# The five subscribers join one group one after another, and each join waits for the others'
# next heartbeat: 3 s apart by default, ~12 s per start. Half a second makes starts quick;
# heartbeats run beside the fetch loop and cost nothing measurable in steady state.
FAST_JOIN = {"HEARTBEAT_INTERVAL_MS": "500"}


class BenchService(ServiceProcess):
    """ServiceProcess with production loop intervals; `module` may wrap `service` (profiling)."""

    def __init__(
        self,
        workdir: Path,
        prefix: str,
        governance: Path,
        partitions: int,
        module: str = "service",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        env = {
            **PRODUCTION_LOOPS,
            **FAST_JOIN,
            "TOPIC_PARTITIONS": str(partitions),
            **(extra_env or {}),
        }
        super().__init__(workdir, prefix, governance, extra_env=env)
        self.module = module
        self.database = self.env["MONGODB_DATABASE"]

    async def start(self, within: float = 90) -> None:
        await super().start(within)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def stack_pid(name: str) -> int | None:
    """The pid stack.sh recorded for `kafka` or `store`, if that process still runs."""
    try:
        pid = int((ROOT / ".local" / "run" / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def vm_hwm_bytes(pid: int) -> int | None:
    """The kernel's own peak resident set (VmHWM) of a live process."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


@dataclass
class Usage:
    cpu_percent: dict[str, float] = field(default_factory=dict)  # of one core, over the window
    peak_rss: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Sampler:
    """Samples RSS every `interval` and CPU time at both ends of a window, per named process."""

    def __init__(self, pids: dict[str, int | None], interval: float = 0.2) -> None:
        self.procs: dict[str, psutil.Process] = {}
        for name, pid in pids.items():
            if pid is not None:
                with contextlib.suppress(psutil.Error):
                    self.procs[name] = psutil.Process(pid)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._cpu0: dict[str, float] = {}
        self._t0 = 0.0
        self.usage = Usage()

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        t = p.cpu_times()
        return float(t.user + t.system)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        for name, p in self.procs.items():
            with contextlib.suppress(psutil.Error):
                self._cpu0[name] = self._cpu(p)
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            for name, p in self.procs.items():
                with contextlib.suppress(psutil.Error):
                    rss = int(p.memory_info().rss)
                    self.usage.peak_rss[name] = max(self.usage.peak_rss.get(name, 0), rss)
            await asyncio.sleep(self.interval)

    async def stop(self) -> Usage:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        wall = time.perf_counter() - self._t0
        self.usage.seconds = wall
        for name, p in self.procs.items():
            with contextlib.suppress(psutil.Error):
                used = self._cpu(p) - self._cpu0.get(name, 0.0)
                self.usage.cpu_percent[name] = 100.0 * used / max(wall, 1e-9)
        return self.usage


# What a log line says when the stack misbehaved under a measurement: an outage retry, a
# lost connection, a partition without a leader. Any of them and the figure is suspect.
DISTURBANCES = (
    "retrying after an outage",
    "waits for",
    "waiting for",
    "Unable connect",
    "NodeNotReady",
    "connection closed",
    "AutoReconnect",
    "NotLeader",
)


class LogWatch:
    """Counts disturbance markers written to some logs after a starting point."""

    def __init__(self, *paths: Path) -> None:
        self.offsets = {p: (p.stat().st_size if p.exists() else 0) for p in paths}

    def count(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for path, offset in self.offsets.items():
            with contextlib.suppress(OSError), path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", "replace")
                for marker in DISTURBANCES:
                    if n := text.count(marker):
                        found[marker] = found.get(marker, 0) + n
        return found
