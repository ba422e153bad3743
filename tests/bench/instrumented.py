"""`python -m tests.bench.instrumented run`: the service, unchanged, with timers around its parts.

Used only for the profiling pass. It wraps (never edits) the store, outbox, decode, decide
and fold functions with wall-clock timers, counts every MongoDB command through PyMongo's
command monitoring, and writes the totals as JSON to $BENCH_STATS_PATH when it exits; on
SIGUSR1 it writes them so far to $BENCH_STATS_PATH.<n> (n = 1, 2, ...), so the bench can
take the difference over its steady span.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from pymongo import monitoring

STATS: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # name -> [calls, seconds]


def _add(name: str, seconds: float) -> None:
    entry = STATS[name]
    entry[0] += 1
    entry[1] += seconds


class Commands(monitoring.CommandListener):
    """Every store round trip, by command name, with the driver-measured duration; also
    counted by command and collection (`store.<command> <collection>`: where they go)."""

    def __init__(self) -> None:
        self.collections: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        if isinstance(target, str):
            self.collections[event.request_id] = target

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._count(event, event.command_name)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._count(event, f"{event.command_name}.failed")

    def _count(
        self, event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent, name: str
    ) -> None:
        seconds = event.duration_micros / 1e6
        _add(f"mongo.{name}", seconds)
        collection = self.collections.pop(event.request_id, None)
        if collection is not None:
            _add(f"by collection: {name} {collection}", seconds)


def timed_async(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            _add(name, time.perf_counter() - started)

    return wrapper


def timed_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(name, time.perf_counter() - started)

    return wrapper


def install() -> None:
    from service.adapters import (
        mongo_counts,
        mongo_index,
        mongo_lists,
        mongo_outbox,
        mongo_store,
        outbox,
    )
    from service.domain import facts
    from service.entrypoints import consume
    from service.gate import gate

    monitoring.register(Commands())
    store = mongo_store.MongoStore
    applied: list[str] = []
    for method in (
        "load_packet",
        "load_packets",
        "save_snapshots",
        "append",
        "mark_published",
        "save_projections",
        "note_written",
        "packets_citing",
        "packets_in_lane",
        "evidence_versions",
        "unpublished",
        "count_unpublished",
        "state_counts",
        "due_times",
    ):
        if hasattr(store, method):  # the service evolves: time what exists
            setattr(store, method, timed_async(f"store.{method}", getattr(store, method)))
            applied.append(f"store.{method}")
    patches: list[tuple[Any, str, str, Callable[[str, Callable[..., Any]], Any]]] = [
        (outbox.KafkaOutbox, "publish", "outbox.publish", timed_async),
        (consume, "process", "consume.process", timed_async),  # per message (older service)
        (consume, "process_partition", "consume.process_partition", timed_async),  # per batch
        (consume, "handle_batch", "consume.handle_batch", timed_async),
        (gate.Gate, "decide_one", "gate.decide_one", timed_async),
        # Who reads the lists, and how often (service/adapters/mongo_lists.py).
        (mongo_lists.DenseLists, "read", "lists.read", timed_async),
        (mongo_lists.DenseLists, "read_new", "lists.read_new", timed_async),
        (mongo_lists.DenseLists, "_append_now", "lists.append_command", timed_async),
        (mongo_lists.DenseLists, "_find_end", "lists.find_end", timed_async),
        (mongo_outbox.Outbox, "unpublished", "outbox_lists.relay_read", timed_async),
        (mongo_outbox.Outbox, "_check", "outbox_lists.check_entry", timed_async),
        (mongo_index.Index, "due_times", "index.due_times", timed_async),
        (mongo_index.Index, "live_packets", "index.live_packets", timed_async),
        (mongo_counts.Counts, "current", "counts.current", timed_async),
        (gate.Gate, "decide_batch", "gate.decide_batch", timed_async),
        (consume, "decode", "contract.decode", timed_sync),
        (gate, "decide", "domain.decide", timed_sync),
        (gate, "fold_packet", "domain.fold_packet", timed_sync),
        (gate, "count_facts", "metrics.count_facts", timed_sync),
        (mongo_store, "from_doc", "store.from_doc", timed_sync),
        (mongo_store, "to_doc", "store.to_doc", timed_sync),
        (facts, "digest", "domain.seal_digest", timed_sync),
    ]
    for owner, attr, name, wrap in patches:  # module globals: callers look them up per call
        if hasattr(owner, attr):
            setattr(owner, attr, wrap(name, getattr(owner, attr)))
            applied.append(name)
    STATS["_timers_installed"] = [len(applied), 0.0]


def dump(suffix: str = "") -> None:
    path = os.environ.get("BENCH_STATS_PATH")
    if path:
        with open(path + suffix + ".tmp", "w") as out:
            json.dump({k: {"calls": v[0], "seconds": v[1]} for k, v in STATS.items()}, out)
        os.replace(path + suffix + ".tmp", path + suffix)  # whole or absent for the reader


SNAPSHOTS = [0]


def _on_sigusr1(signum: int, frame: object) -> None:
    SNAPSHOTS[0] += 1
    dump(f".{SNAPSHOTS[0]}")


def _on_sigterm(signum: int, frame: object) -> None:
    # uvicorn re-raises the SIGTERM it caught once it has shut down, after putting back the
    # handler it found: this one. Default handling would skip atexit, so exit normally.
    raise SystemExit(0)


def main() -> None:
    install()
    atexit.register(dump)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGUSR1, _on_sigusr1)
    from service.cli.main import main as service_main

    service_main()


if __name__ == "__main__":
    main()
