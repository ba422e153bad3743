"""Commands for packets: load the logs, decide, append, project, publish, count.

`decide_one` handles one command; `decide_batch` handles a consumer batch with one load,
one ordered append, one projection and snapshot write, one publish and one mark for the
whole batch (docs/design.md).
Facts of one revision go into a single *ordered* insert, so a lost race at seq n+1 can
never leave n+2 standing on someone else's n+1; whatever follows a lost race is decided
again, one command at a time, on the reloaded log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from service.adapters.errors import TRANSIENT_ERRORS, AppendRaceLost
from service.adapters.store import FactStore, Log, Projection, SeqTaken, moves_of
from service.domain.commands import DEFAULT_PARKING, Command, Parking
from service.domain.decide import Decision, Evidence, decide
from service.domain.facts import Fact
from service.domain.governance import Governance
from service.domain.revision import Revision, fold_packet, with_facts
from service.gate.due import DueTimes
from service.gate.snapshots import SnapshotWriter
from service.telemetry.fact_metrics import count_facts
from service.telemetry.metrics import Metrics

Item = tuple[str, Command]  # (packet_id, command)


class Publisher(Protocol):
    async def publish(self, facts: Sequence[Fact]) -> None: ...


class Gate:
    def __init__(
        self,
        store: FactStore,
        publisher: Publisher,
        governance: Callable[[], Governance],
        clock: Callable[[], datetime],
        metrics: Metrics,
        retries: int = 10,
        due: DueTimes | None = None,
        parking: Parking = DEFAULT_PARKING,
        max_parked: int = 10_000,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.governance = governance
        self.clock = clock
        self.metrics = metrics
        self.retries = retries
        self.due = due
        self.parking = parking
        self.max_parked = max_parked
        self.snapshots = SnapshotWriter(store)
        # Early events this instance holds, by packet: when each was parked (for the gauges
        # and the cap in all; service/domain/parking.py).
        self.held: dict[str, list[datetime]] = {}

    async def decide_one(
        self, packet_id: str, command: Command, ours: Sequence[Fact] = ()
    ) -> Decision:
        """One command; `ours` are facts this caller appended earlier and still publishes."""
        for _ in range(self.retries):
            facts = (await self.store.load_packets([packet_id]))[packet_id]
            packet = fold_packet(packet_id, facts)
            evidence = await self._evidence([packet])
            decision = decide(
                packet_id, packet, command, self.clock(), self.governance(), evidence, self._room()
            )
            try:
                await self.store.append(decision.facts, {packet_id: facts})
            except SeqTaken:
                # Another writer took the seq: its facts are now in the log; decide again.
                self.metrics.store_conflicts.inc()
                continue
            after = {packet_id: with_facts(packet, packet_id, decision.facts)}
            logs = {packet_id: Log([*facts, *decision.facts], facts.numbers)}
            await self._settle(after, logs, [*ours, *decision.facts], appended=decision.facts)
            count_facts(self.metrics, decision.facts, after)
            return decision
        raise AppendRaceLost(f"{packet_id}: lost {self.retries} append races in a row")

    async def decide_batch(self, items: Sequence[Item]) -> list[Decision]:
        if not items:
            return []
        loaded = await self.store.load_packets(sorted({pid for pid, _ in items}))
        packets = {pid: fold_packet(pid, facts) for pid, facts in loaded.items()}
        evidence = await self._evidence(packets.values())
        now, governance = self.clock(), self.governance()
        decisions: list[Decision] = []
        appended: list[Fact] = []
        ends: list[int] = []  # for item i, its facts end at appended[ends[i]]
        parking = self._room()
        for packet_id, command in items:
            packet = packets[packet_id]
            decision = decide(packet_id, packet, command, now, governance, evidence, parking)
            packets[packet_id] = with_facts(packets[packet_id], packet_id, decision.facts)
            decisions.append(decision)
            appended.extend(decision.facts)
            ends.append(len(appended))
        done, lost_at = len(items), len(appended)
        try:
            await self.store.append(appended, loaded)
        except SeqTaken as taken:
            self.metrics.store_conflicts.inc()
            lost_at = next(i for i, f in enumerate(appended) if f.id == taken.fact_id)
            done = next(i for i, end in enumerate(ends) if end > lost_at)
        settled = {pid for pid, _ in items[:done]}
        kept = appended[:lost_at]  # everything that is in the store now, ours to publish
        for fact in kept:
            loaded[fact.packet_id].append(fact)
        await self._settle({pid: packets[pid] for pid in settled}, loaded, kept, items[done:])
        count_facts(self.metrics, kept, packets)
        if done < len(items):
            started = ends[done - 1] if done else 0
            first = decisions[done]
            decisions[done] = await self.decide_one(*items[done], ours=kept)
            if lost_at > started:  # part of it was ours: it was not a duplicate
                decisions[done] = replace(decisions[done], outcome=first.outcome)
            # The rest is decided again as a batch on the reloaded logs.
            decisions[done + 1 :] = await self.decide_batch(items[done + 1 :])
        return decisions

    async def _evidence(self, packets: Iterable[Mapping[int, Revision]]) -> Evidence:
        """The newest announced versions of what the live revisions cite (one lookup each)."""
        keys = {
            (kind, ref)
            for packet in packets
            for rev in packet.values()
            if rev.created and not rev.terminal
            for kind, ref, _ in rev.cites()
        }
        return await self.store.evidence_versions(sorted(keys)) if keys else {}

    async def _settle(
        self,
        packets: Mapping[str, Mapping[int, Revision]],
        logs: Mapping[str, Log],
        ours: Sequence[Fact],
        unsettled: Sequence[Item] = (),
        appended: Sequence[Fact] | None = None,
    ) -> None:
        """Project, snapshot, note due times, publish `ours`: the facts this call appended
        (`appended`, by default all of `ours`) and those an earlier call left to it. Facts a
        crash left unpublished are the relay's (the outbox); packets to re-decide wait."""
        waiting = {pid for pid, _ in unsettled}
        ready = {pid: p for pid, p in packets.items() if pid not in waiting}
        touched = {f.packet_id for f in ours}
        changed = [pid for pid in ready if pid in touched]
        rows = [Projection.of(rev) for pid in changed for rev in ready[pid].values()]
        # Of every fact this call appended, those of packets to re-decide too (counted once:
        # the call that re-decides them gets them as `ours`, not as `appended`).
        moves = moves_of(ours if appended is None else appended)
        noting = None
        if rows or moves:  # projections and snapshots derive from the log alone: new facts
            # Snapshots and rows follow off this path (service/gate/snapshots.py).
            self.snapshots.note({pid: logs[pid] for pid in changed}, rows)
            noting = self._note_written(rows, moves)
        if self.due is not None:
            now = self.clock()
            for pid, packet in ready.items():
                self.due.note(pid, (rev.next_due() for rev in packet.values()), now)
        self._note_held(ready)
        # The lists' entries and the events go side by side, and the batch ends when both are
        # done: a fan-out another instance ran in between, missing a new revision, is made
        # good by the evidence check that follows a packet-ready batch (docs/design.md).
        publishing = self.publisher.publish([f for f in ours if f.packet_id in ready])
        await _together(noting, publishing)

    async def _note_written(self, rows: Sequence[Projection], moves: Mapping[str, int]) -> None:
        """The facts are in the log, so their list entries must follow: an outage is waited
        out here, since a retry of the batch would decide duplicates and note nothing."""
        delay = 0.05
        while True:
            try:
                await self.store.note_written(rows, moves)
                return
            except TRANSIENT_ERRORS:
                self.metrics.infra_retries.labels(dependency="store").inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _room(self) -> Parking:
        held = sum(len(times) for times in self.held.values())
        return replace(self.parking, room=held < self.max_parked)

    def _note_held(self, packets: Mapping[str, Mapping[int, Revision]]) -> None:
        for pid, packet in packets.items():
            times = [p.at for rev in packet.values() for p in rev.parked]
            if times:
                self.held[pid] = times
            else:
                self.held.pop(pid, None)
        every = [t for times in self.held.values() for t in times]
        self.metrics.parked_events.set(len(every))
        oldest = (self.clock() - min(every)).total_seconds() if every else 0.0
        self.metrics.parked_oldest_seconds.set(max(oldest, 0.0))


async def _together(*steps: Awaitable[None] | None) -> None:
    """Run the steps side by side and wait for every one; then raise the first failure."""
    tasks = [asyncio.ensure_future(step) for step in steps if step is not None]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
