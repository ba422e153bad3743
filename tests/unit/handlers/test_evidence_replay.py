"""A replayed, overtaken evidence change must not supersede revisions citing the newer one."""

from __future__ import annotations

from typing import Any

from service.contract.decode import Inbound
from service.contract.envelope import CloudEvent
from service.domain.commands import PacketReady
from service.handlers.evidence_changed import on_evidence_changed
from tests.support.builders import evidence_changed
from tests.unit.domain.builders import T0, packet_data
from tests.unit.handlers.fakes import runtime


def change(event_id: str, version: str) -> Inbound[Any]:
    data = evidence_changed("incident-impact", "INC-1", version)
    event = CloudEvent(
        specversion="1.0",
        id=event_id,
        source="urn:t",
        type="evidence-changed",
        subject="INC-1",
        time=T0,
        schemaversion=1,
        data=data,
    )
    return Inbound(event=event, data=None, raw_data=data)  # type: ignore[arg-type]


async def test_a_replayed_old_change_is_a_duplicate_and_supersedes_nothing() -> None:
    rt, _, _ = runtime()
    await rt.gate.decide_one("RP-1", PacketReady("r1", packet_data(1)))
    first = await on_evidence_changed(change("e8", "8"), rt)
    assert [f.to_state for f in first.facts] == ["superseded"]
    await on_evidence_changed(change("e9", "9"), rt)
    cites_nine = packet_data(
        2, evidence=[("incident-impact", "INC-1", "9"), ("contract", "M", "3")]
    )
    await rt.gate.decide_one("RP-1", PacketReady("r2", cites_nine))
    replay = await on_evidence_changed(change("e8", "8"), rt)
    assert replay.outcome == "duplicate" and replay.facts == ()
    assert (await rt.store.state_counts()) == {"superseded": 1, "pending": 1}
