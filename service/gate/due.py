"""Which packets the scheduler drives next, without scanning the projections every second.

The gate notes each packet's earliest due time as it writes the packet's projections; the
store's due lists (read every `scan_interval_seconds`, and at start) add what other
instances wrote and what was due before this one started (service/adapters/mongo_index.py).
Only times within the horizon are kept, so memory stays small however many packets are
stored. A packet taken and then failing is put back by the scheduler; a stale time costs
one tick that changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta


class DueTimes:
    def __init__(self, horizon: timedelta) -> None:
        self.horizon = horizon
        self.at: dict[str, datetime] = {}

    def note(self, packet_id: str, dues: Iterable[datetime | None], now: datetime) -> None:
        """The packet as just written: its revisions' due times replace what was known."""
        times = [t for t in dues if t is not None]
        if times and min(times) <= now + self.horizon:
            self.at[packet_id] = min(times)
        else:
            self.at.pop(packet_id, None)

    def merge(self, found: Mapping[str, datetime]) -> None:
        """A scan's findings: the earlier time wins."""
        for packet_id, due in found.items():
            known = self.at.get(packet_id)
            self.at[packet_id] = due if known is None else min(due, known)

    def take(self, now: datetime, limit: int) -> list[str]:
        """The packets due by `now` (earliest first), no longer held."""
        due = sorted((t, p) for p, t in self.at.items() if t <= now)[:limit]
        for _, packet_id in due:
            del self.at[packet_id]
        return [p for _, p in due]
