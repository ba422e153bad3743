"""An in-memory FactStore for unit tests of handlers; never the evidence the service works."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from service.adapters.store import (
    LIVE_STATES,
    EvidenceRecord,
    Log,
    Projection,
    SeqTaken,
    claims_needed,
    logs_for,
)
from service.domain.commands import EvidenceVersion
from service.domain.facts import Fact
from service.domain.times import parse_time


class MemoryStore:
    def __init__(self) -> None:
        self.facts: dict[str, Fact] = {}
        self.projections: dict[str, Projection] = {}
        self.evidence: dict[tuple[str, str], EvidenceVersion] = {}
        self.records: dict[tuple[str, str], EvidenceRecord] = {}
        self.registry: dict[str, list[int]] = {}  # revision numbers by packet, in claim order

    async def ensure_indexes(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def load_packet(self, packet_id: str) -> list[Fact]:
        return [f for f in self.facts.values() if f.packet_id == packet_id]

    async def load_packets(self, packet_ids: Sequence[str]) -> dict[str, Log]:
        wanted = set(packet_ids)
        found = {p: Log((), self.registry.get(p, [])) for p in wanted}
        for fact in self.facts.values():
            if fact.packet_id in wanted:
                found[fact.packet_id].append(replace(fact, published=True))
        return found

    async def save_snapshots(self, logs: Mapping[str, Log]) -> None:
        return None

    def remember(self, logs: Mapping[str, Log]) -> None:
        return None

    async def append(self, facts: Sequence[Fact], logs: Mapping[str, Log] | None = None) -> None:
        """The registry claims of service/adapters/store.py, `Log`, then the inserts."""
        known = await logs_for(facts, logs, self.load_packets)
        for index, packet_id, number in claims_needed(facts, known):
            taken = self.registry.setdefault(packet_id, [])
            if len(taken) > len(known[packet_id].numbers):
                await self._insert(facts[:index])
                raise SeqTaken(facts[index].id)
            taken.append(number)
            known[packet_id].numbers.append(number)
        await self._insert(facts)

    async def _insert(self, facts: Sequence[Fact]) -> None:
        for fact in facts:
            if fact.id in self.facts:
                raise SeqTaken(fact.id)
            self.facts[fact.id] = replace(fact, published=False)

    async def mark_published(self, facts: Sequence[Fact]) -> None:
        for fid in (f.id for f in facts):
            if fid in self.facts:
                self.facts[fid] = replace(self.facts[fid], published=True)

    async def unpublished(self, limit: int, before: datetime | None = None) -> list[Fact]:
        waiting = [f for f in self.facts.values() if not f.published and f.outbox]
        if before is not None:
            waiting = [f for f in waiting if parse_time(f.at) <= before]
        return sorted(waiting, key=lambda f: f.at)[:limit]

    async def count_unpublished(self) -> int:
        return sum(1 for f in self.facts.values() if not f.published and f.outbox)

    async def note_written(
        self, rows: Sequence[Projection], moves: Mapping[str, int] | None = None
    ) -> None:
        await self.save_projections(rows)  # here the rows answer every query, counts too

    async def save_projections(self, rows: Iterable[Projection]) -> None:
        for row in rows:
            self.projections[row.id] = row

    async def due_times(self, until: datetime) -> dict[str, datetime]:
        due: dict[str, datetime] = {}
        for p in self.projections.values():
            if p.next_due is not None and p.next_due <= until:
                due[p.packet_id] = min(p.next_due, due.get(p.packet_id, p.next_due))
        return due

    async def packets_citing(self, kind: str, ref: str) -> list[str]:
        key = f"{kind}:{ref}"
        return sorted({p.packet_id for p in self._live() if key in p.evidence})

    async def packets_in_lane(self, lane_id: str) -> list[str]:
        return sorted({p.packet_id for p in self._live() if p.lane_id == lane_id})

    def _live(self) -> list[Projection]:
        return [p for p in self.projections.values() if p.state in LIVE_STATES]

    async def state_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.projections.values():
            if p.state:
                counts[p.state] = counts.get(p.state, 0) + 1
        return counts

    async def rebuild_counts(self, counted: Mapping[str, int]) -> None:
        """Nothing kept to replace: the counts here are the projections'."""

    async def record_evidence(
        self, kind: str, ref: str, version: EvidenceVersion, now: datetime
    ) -> EvidenceRecord:
        known = self.records.get((kind, ref))
        if known is not None and known.step(version.event_id) != "new":
            return known
        history = (*(known.history if known else ()), version.event_id)
        record = EvidenceRecord(latest=version, as_of=now, history=history)
        self.records[(kind, ref)] = record
        self.evidence[(kind, ref)] = version
        return record

    async def evidence_versions(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], EvidenceVersion]:
        return {k: self.evidence[k] for k in keys if k in self.evidence}

    async def all_facts(self) -> AsyncIterator[Fact]:
        for fact in sorted(self.facts.values(), key=lambda f: (f.packet_id, f.revision, f.seq)):
            yield fact

    async def packet_ids(self) -> list[str]:
        return sorted({f.packet_id for f in self.facts.values()})
