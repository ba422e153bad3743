"""The fact-log store interface, its conflict error, and the projection it keeps beside logs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from service.domain.commands import EvidenceVersion
from service.domain.facts import TRANSITION_KINDS, Fact
from service.domain.revision import Revision

LIVE_STATES = ("pending", "approved", "released")


class SeqTaken(Exception):
    """Another writer appended this seq first: reload the log and decide again."""

    def __init__(self, fact_id: str) -> None:
        super().__init__(f"{fact_id} is taken")
        self.fact_id = fact_id


class Log(list[Fact]):
    """A packet's facts as loaded, with `numbers`: the revision numbers its registry held,
    in the order they were claimed. An append that brings a revision number the registry
    lacks claims the registry's next slot first, by a unique insert, so two writers that
    each add a revision unseen by the other collide there (docs/store.md)."""

    def __init__(self, facts: Iterable[Fact] = (), numbers: Iterable[int] = ()) -> None:
        super().__init__(facts)
        self.numbers = list(numbers)

    def copy(self) -> Log:
        return Log(self, self.numbers)


async def logs_for(
    facts: Sequence[Fact],
    logs: Mapping[str, Log] | None,
    load: Callable[[Sequence[str]], Awaitable[dict[str, Log]]],
) -> dict[str, Log]:
    """`logs`, plus a fresh load of any packet of `facts` it lacks (an append by a caller that
    decided on nothing it loaded). The `Log` objects are the caller's: claims extend them."""
    known = dict(logs or {})
    unknown = sorted({f.packet_id for f in facts} - set(known))
    if unknown:
        known.update(await load(unknown))
    return known


def claims_needed(facts: Sequence[Fact], logs: Mapping[str, Log]) -> list[tuple[int, str, int]]:
    """(index in `facts`, packet, revision) of each first fact of a revision number that the
    packet's loaded registry (`logs`) does not hold, in order."""
    wanted: list[tuple[int, str, int]] = []
    seen: set[tuple[str, int]] = set()
    for index, fact in enumerate(facts):
        pair = (fact.packet_id, fact.revision)
        log = logs.get(fact.packet_id)
        if pair not in seen and (log is None or fact.revision not in log.numbers):
            wanted.append((index, *pair))
        seen.add(pair)
    return wanted


@dataclass(frozen=True)
class Projection:
    """A derived row per revision: what the scheduler, HTTP and dashboards read."""

    packet_id: str
    revision: int
    state: str | None
    lane_id: str | None
    evidence: tuple[str, ...]  # "kind:ref" of everything cited
    next_due: datetime | None

    @property
    def id(self) -> str:
        return f"{self.packet_id}@r{self.revision}"

    @staticmethod
    def of(rev: Revision) -> Projection:
        return Projection(
            packet_id=rev.packet_id,
            revision=rev.revision,
            state=None if rev.state is None else rev.state.value,
            lane_id=rev.lane_id,
            evidence=tuple(sorted({f"{k}:{r}" for k, r, _ in rev.cites()})),
            next_due=rev.next_due(),
        )


def moves_of(facts: Iterable[Fact]) -> dict[str, int]:
    """{state: net change in revisions} of the transitions among these appended facts."""
    net: dict[str, int] = {}
    for fact in facts:
        if fact.kind in TRANSITION_KINDS and fact.to_state:
            net[fact.to_state] = net.get(fact.to_state, 0) + 1
            if fact.from_state:
                net[fact.from_state] = net.get(fact.from_state, 0) - 1
    return {state: n for state, n in sorted(net.items()) if n}


@dataclass(frozen=True)
class EvidenceRecord:
    latest: EvidenceVersion
    as_of: datetime  # when the latest change was first recorded
    history: tuple[str, ...]  # event ids, oldest first

    def step(self, event_id: str) -> str:
        """'new' for an unseen change, 'latest' for the newest again, 'stale' for a replay."""
        if event_id not in self.history:
            return "new"
        return "latest" if self.history[-1] == event_id else "stale"


class FactStore(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def ping(self) -> None: ...

    async def load_packet(self, packet_id: str) -> list[Fact]: ...

    async def load_packets(self, packet_ids: Sequence[str]) -> dict[str, Log]:
        """Several packets' facts (a consumer batch's worth), by the fastest complete path.
        Loaded facts count as published: what is left unpublished is `unpublished()`'s."""
        ...

    async def save_snapshots(self, logs: Mapping[str, Log]) -> None:
        """Each packet's whole log after a write, for `load_packets` to start from."""
        ...

    def remember(self, logs: Mapping[str, Log]) -> None:
        """Keep these logs for this instance's next loads (no I/O; the snapshot may follow)."""
        ...

    async def append(self, facts: Sequence[Fact], logs: Mapping[str, Log] | None = None) -> None:
        """Insert in order; raise SeqTaken at the first id already taken (earlier ones stay).
        `logs`: what the facts were decided on (from `load_packets`); a revision number their
        registry lacks is claimed first, and a claim a rival took is a SeqTaken at that
        revision's first fact. Claims made are added to `logs`. Without `logs` the registry
        is read at once (for callers that decided on nothing they loaded)."""
        ...

    async def mark_published(self, facts: Sequence[Fact]) -> None:
        """These facts' events are on Kafka: their outbox entries go."""
        ...

    async def unpublished(self, limit: int, before: datetime | None = None) -> list[Fact]:
        """Facts whose events may not be on Kafka yet, oldest first; with `before`, only
        those decided before it (younger ones are their writer's to publish and mark)."""
        ...

    async def count_unpublished(self) -> int: ...

    async def save_projections(self, rows: Iterable[Projection]) -> None:
        """The rows of revisions written (off the batch's path: gate.snapshots)."""
        ...

    async def note_written(
        self, rows: Sequence[Projection], moves: Mapping[str, int] | None = None
    ) -> None:
        """On the batch's path, before its events go: what `due_times`, `packets_citing`,
        `packets_in_lane` and `state_counts` must know of these rows at once, and what the
        batch's facts moved between states (`moves_of`)."""
        ...

    async def due_times(self, until: datetime) -> dict[str, datetime]:
        """Packets with a revision due by `until`, with their earliest due time. A time may
        have moved since (the packet's tick then changes nothing); a store may name a due
        time only once, to one call: the caller keeps what it was told."""
        ...

    async def packets_citing(self, kind: str, ref: str) -> list[str]: ...

    async def packets_in_lane(self, lane_id: str) -> list[str]: ...

    async def state_counts(self) -> dict[str, int]: ...

    async def rebuild_counts(self, counted: Mapping[str, int]) -> None:
        """Replace the kept revision totals with these, counted from the log."""
        ...

    async def record_evidence(
        self, kind: str, ref: str, version: EvidenceVersion, now: datetime
    ) -> EvidenceRecord:
        """Note a change of (kind, ref); say whether it is the newest one seen."""
        ...

    async def evidence_versions(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], EvidenceVersion]: ...

    def all_facts(self) -> AsyncIterator[Fact]:
        """Every fact, by packet, revision and seq: for audit and projection rebuilds."""
        ...

    async def packet_ids(self) -> list[str]: ...
