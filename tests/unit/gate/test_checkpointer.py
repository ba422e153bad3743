"""The checkpointer: leaves in the order noted, batches under the cap, signed envelopes,
a failed publish kept and sent again as it was, and the publisher that notes every fact."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from service.adapters.dsse import EnvelopeRefused, sign_payload, verified_payload
from service.adapters.gate_key import load_gate_key, public_key_from_file
from service.contract.checkpoint import AuditCheckpointData
from service.contract.envelope import CloudEvent
from service.domain.checkpoint import (
    PAYLOAD_TYPE,
    Anchor,
    chain_problems,
    parse_checkpoint,
    payload_digest,
)
from service.domain.facts import Fact
from service.gate.checkpoints import AnchoringPublisher, Checkpointer
from service.telemetry.metrics import Metrics
from tests.support.service import GATE_KEY_FILE

T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
KEY = load_gate_key(GATE_KEY_FILE)


class Sender:
    """Records what it is given; `failing` makes the broker refuse it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Mapping[str, Any]]] = []
        self.failing = False

    async def send(self, topic: str, key: str, event: Mapping[str, Any]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.failing:
            future.set_exception(ConnectionError("broker away"))
        else:
            self.sent.append((topic, key, event))
            future.set_result(None)
        return future


def fact(i: int, packet: str = "RP-1") -> Fact:
    return Fact(packet, 1, i, "feedback", None, None, None, "t", "e", {}, hash=f"sha256:{i:064x}")


def checkpointer(sender: Sender, cap: int = 2_000) -> tuple[Checkpointer, CollectorRegistry]:
    registry = CollectorRegistry()
    cp = Checkpointer(
        sender,
        lambda payload: sign_payload(KEY, payload, PAYLOAD_TYPE),
        lambda: T,
        Metrics(registry),
        logging.getLogger("test"),
        cap=cap,
        chain="chain-1",
    )
    return cp, registry


def anchors_of(sender: Sender) -> list[Anchor]:
    key = public_key_from_file(GATE_KEY_FILE)
    found = []
    for _, _, event in sender.sent:
        data = AuditCheckpointData.model_validate(event["data"])
        payload = verified_payload(event["data"]["checkpoint"], key, PAYLOAD_TYPE)
        found.append(Anchor(parse_checkpoint(payload), payload, tuple(data.leaves)))
    return found


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_nothing_noted_publishes_nothing() -> None:
    sender = Sender()
    cp, _ = checkpointer(sender)
    await cp.flush()
    assert sender.sent == [] and cp.latest is None


async def test_pending_leaves_become_checkpoints_under_the_cap_linked_and_signed() -> None:
    sender = Sender()
    cp, registry = checkpointer(sender, cap=2_000)
    cp.note([fact(i) for i in range(1, 4_501)])
    assert sample(registry, "release_gate_checkpoint_pending_leaves") == 4_500
    await cp.flush()
    anchors = anchors_of(sender)
    assert [len(a.leaves) for a in anchors] == [2_000, 2_000, 500]
    assert [a.checkpoint.number for a in anchors] == [1, 2, 3]
    assert chain_problems(anchors) == []
    assert anchors[1].checkpoint.previous == payload_digest(anchors[0].payload)
    leaves = [leaf for a in anchors for leaf in a.leaves]
    assert leaves == [(f"RP-1@r1/{i}", f"sha256:{i:064x}") for i in range(1, 4_501)]
    for (topic, key, event), n in zip(sender.sent, (1, 2, 3), strict=True):
        assert (topic, key) == ("audit-checkpoint", "chain-1")
        parsed = CloudEvent.model_validate(event)
        assert (parsed.type, parsed.id, parsed.schemaversion) == (
            "audit-checkpoint",
            f"checkpoint:chain-1:{n}",
            1,
        )
    assert cp.latest == sender.sent[-1][2]["data"]["checkpoint"]
    assert sample(registry, "release_gate_checkpoints_total", outcome="published") == 3
    assert sample(registry, "release_gate_checkpoint_pending_leaves") == 0


async def test_a_failed_publish_keeps_the_leaves_and_sends_the_same_checkpoint_again() -> None:
    sender = Sender()
    cp, registry = checkpointer(sender)
    cp.note([fact(1), fact(2)])
    sender.failing = True
    await cp.flush()
    assert sender.sent == [] and cp.latest is None and cp.waiting == 2
    assert sample(registry, "release_gate_checkpoints_total", outcome="failed") == 1
    assert sample(registry, "release_gate_checkpoint_pending_leaves") == 2
    cp.note([fact(3)])  # noted meanwhile: in the next checkpoint, not in the one kept
    sender.failing = False
    await cp.flush()
    first, second = anchors_of(sender)
    assert first.leaves == (("RP-1@r1/1", fact(1).hash), ("RP-1@r1/2", fact(2).hash))
    assert second.leaves == (("RP-1@r1/3", fact(3).hash),)
    assert chain_problems([first, second]) == []
    assert sample(registry, "release_gate_checkpoints_total", outcome="published") == 2


async def test_a_fact_noted_twice_while_pending_is_one_leaf() -> None:
    sender = Sender()
    cp, _ = checkpointer(sender)
    cp.note([fact(1), fact(2)])
    cp.note([fact(2)])  # the relay republishing what the gate also published
    await cp.flush()
    [anchor] = anchors_of(sender)
    assert [fid for fid, _ in anchor.leaves] == ["RP-1@r1/1", "RP-1@r1/2"]


async def test_an_envelope_does_not_verify_with_another_key_nor_once_edited() -> None:
    sender = Sender()
    cp, _ = checkpointer(sender)
    cp.note([fact(1)])
    await cp.flush()
    envelope = sender.sent[0][2]["data"]["checkpoint"]
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(EnvelopeRefused):
        verified_payload(envelope, other, PAYLOAD_TYPE)
    key = public_key_from_file(GATE_KEY_FILE)
    edited = {**envelope, "payload": sign_payload(KEY, b"{}", PAYLOAD_TYPE)["payload"]}
    with pytest.raises(EnvelopeRefused):
        verified_payload(edited, key, PAYLOAD_TYPE)
    with pytest.raises(EnvelopeRefused):
        verified_payload(envelope, key, "application/vnd.in-toto+json")
    assert parse_checkpoint(verified_payload(envelope, key, PAYLOAD_TYPE)).number == 1


class Inner:
    def __init__(self, failing: bool = False) -> None:
        self.published: list[Sequence[Fact]] = []
        self.failing = failing

    async def publish(self, facts: Sequence[Fact]) -> None:
        if self.failing:
            raise ConnectionError("broker away")
        self.published.append(facts)


async def test_the_anchoring_publisher_notes_every_fact_then_publishes_it() -> None:
    sender, inner = Sender(), Inner()
    cp, _ = checkpointer(sender)
    publisher = AnchoringPublisher(inner, cp)
    await publisher.publish([fact(1), fact(1, "RP-2")])
    assert inner.published == [[fact(1), fact(1, "RP-2")]]
    assert cp.waiting == 2


async def test_a_fact_whose_events_fail_to_publish_is_anchored_all_the_same() -> None:
    """It is in the store already; the relay publishes its events later."""
    cp, _ = checkpointer(Sender())
    with pytest.raises(ConnectionError):
        await AnchoringPublisher(Inner(failing=True), cp).publish([fact(1)])
    assert cp.waiting == 1
