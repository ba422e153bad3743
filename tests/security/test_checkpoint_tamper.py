"""Whoever can write to the store can edit a fact and re-seal every hash after it: the
unkeyed chain still verifies. The checkpoints the gate signed and published on Kafka do
not: `audit verify --checkpoints` names exactly the edited fact (docs/security.md, "Audit
checkpoints"). A checkpoint file signed by any other key is refused.

Against the package's real service; the store is restored after each edit, so the
after-attacks checks (test_after_attacks.py) still see every chain verify.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo import AsyncMongoClient

from service.adapters.dsse import sign_payload, verified_payload
from service.adapters.gate_key import gate_key_from_private, load_gate_key, public_key_from_file
from service.adapters.mongo_docs import from_doc, to_doc
from service.domain.checkpoint import PAYLOAD_TYPE, parse_checkpoint
from service.domain.facts import Fact, seal
from tests.security.attacks import marked_packet, ready
from tests.support.builders import approval, new_id
from tests.support.bus import Bus, Event
from tests.support.service import GATE_KEY_FILE, ServiceProcess

Docs = list[dict[str, Any]]


@pytest.fixture(scope="module")
async def facts(service: ServiceProcess) -> AsyncIterator[Any]:
    """The service's fact collection, as tests/support/service.py names its database."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        service.env.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    )
    yield client[service.env["MONGODB_DATABASE"]]["facts"]
    await client.close()


@pytest.fixture(scope="module")
def public_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a verifier holds: the gate's public key only."""
    path = tmp_path_factory.mktemp("gate-pub") / "gate.pub.pem"
    path.write_text(load_gate_key(GATE_KEY_FILE).public_pem())
    return path


def leaves_of(bus: Bus) -> set[str]:
    return {
        leaf[0]
        for e in bus.matching("audit-checkpoint", lambda e: True)
        for leaf in e["data"]["leaves"]
    }


async def anchored_release(bus: Bus, facts: Any) -> Docs:
    """A packet released, and the stored docs of its revision once a checkpoint covers them.

    Leaves are noted in the order the gate appended them (service/gate/checkpoints.py): a
    checkpoint holding the revision's last fact is the last one its facts need."""
    pkt = marked_packet(new_id("CP"))
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    await bus.send("approval-decision", approval(pkt), event_id=new_id("evt"))
    await bus.wait_for("release-manifest", f"{pid}@r1:released")
    docs: Docs = await facts.find({"packet_id": pid, "revision": 1}).sort("seq", 1).to_list()
    assert [d["seq"] for d in docs] == list(range(1, len(docs) + 1)) and len(docs) >= 3
    last = docs[-1]["_id"]
    await bus.wait_for(
        "audit-checkpoint", lambda e: any(leaf[0] == last for leaf in e["data"]["leaves"])
    )
    assert {d["_id"] for d in docs} <= leaves_of(bus)
    return docs


def resealed_from(docs: Docs, index: int, edit: dict[str, Any]) -> list[Fact]:
    """The revision's facts with fact `index` edited, it and every later fact re-sealed
    consistently (service/domain/facts.py:seal), as a careful tamperer would."""
    chain = [from_doc(d) for d in docs]
    out = chain[:index]
    prev = out[-1].hash if out else None
    for n, fact in enumerate(chain[index:]):
        changed = replace(fact, data={**fact.data, **edit}) if n == 0 else fact
        sealed = seal(changed, prev, fact.seq)
        out.append(sealed)
        prev = sealed.hash
    return out


async def write_back(facts: Any, chain: list[Fact]) -> None:
    for fact in chain:
        doc = to_doc(fact)
        fields = {"data": doc["data"], "prev_hash": fact.prev_hash, "hash": fact.hash}
        await facts.update_one({"_id": fact.id}, {"$set": fields})


async def restore(facts: Any, docs: Docs) -> None:
    for doc in docs:
        await facts.replace_one({"_id": doc["_id"]}, doc)


def export(service: ServiceProcess, path: Path) -> list[Event]:
    result = service.cli("audit", "checkpoints", "--out", str(path))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in path.read_text().splitlines()]


def verify(service: ServiceProcess, checkpoints: Path, key: Path) -> Any:
    return service.cli(
        "audit", "verify", "--checkpoints", str(checkpoints), "--public-key", str(key)
    )


async def test_a_fact_edited_and_resealed_passes_the_chain_but_not_the_checkpoints(
    bus: Bus, service: ServiceProcess, facts: Any, public_key: Path, tmp_path: Path
) -> None:
    docs = await anchored_release(bus, facts)
    exported = tmp_path / "checkpoints.jsonl"
    events = export(service, exported)
    assert events and all(e["type"] == "audit-checkpoint" for e in events)
    clean = verify(service, exported, public_key)
    assert clean.returncode == 0, clean.stderr  # before the edit, the store is as anchored

    target = docs[1]  # the approval
    assert target["kind"] == "approved"
    tampered = resealed_from(docs, 1, {"approver": "user:mallory@support"})
    await write_back(facts, tampered[1:])
    try:
        plain = service.cli("audit", "verify")
        assert plain.returncode == 0, plain.stderr  # the weakness: every link re-sealed
        assert plain.stdout.startswith("ok")
        caught = verify(service, exported, public_key)
        assert caught.returncode == 1, caught.stdout
        differs = [line for line in caught.stderr.splitlines() if line.startswith("DIFFERS")]
        assert differs == [
            f"DIFFERS: {target['_id']} differs from checkpoint {differs_number(events, target)} "
            f"of chain {chain_of(events, target)}: stored hash {tampered[1].hash}, "
            f"anchored {target['hash']}"
        ], caught.stderr
        assert "REFUSED" not in caught.stderr
    finally:
        await restore(facts, docs)
    again = verify(service, exported, public_key)
    assert again.returncode == 0, again.stderr


def checkpoint_of(events: list[Event], doc: dict[str, Any]) -> Event:
    [event] = [e for e in events if [doc["_id"], doc["hash"]] in e["data"]["leaves"]]
    return event


def differs_number(events: list[Event], doc: dict[str, Any]) -> int:
    return int(checkpoint_of(events, doc)["id"].rsplit(":", 1)[1])


def chain_of(events: list[Event], doc: dict[str, Any]) -> str:
    return str(checkpoint_of(events, doc)["subject"])


async def test_checkpoints_signed_by_another_key_are_refused(
    bus: Bus, service: ServiceProcess, facts: Any, public_key: Path, tmp_path: Path
) -> None:
    await anchored_release(bus, facts)
    events = export(service, tmp_path / "real.jsonl")
    forger = gate_key_from_private(Ed25519PrivateKey.generate())
    for event in events:  # the same checkpoints, signed by someone else
        payload = verified_payload(
            event["data"]["checkpoint"], public_key_from_file(public_key), PAYLOAD_TYPE
        )
        event["data"]["checkpoint"] = sign_payload(forger, payload, PAYLOAD_TYPE)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("".join(json.dumps(e) + "\n" for e in events))
    refused = verify(service, forged, public_key)
    assert refused.returncode == 1, refused.stdout
    lines = [line for line in refused.stderr.splitlines() if line.startswith("REFUSED")]
    assert len(lines) == len(events) + 1, refused.stderr  # each line, then "holds no checkpoint"
    assert all("no signature verifies with the given public key" in line for line in lines[:-1])
    forger_key = tmp_path / "forger.pub.pem"
    forger_key.write_text(forger.public_pem())
    assert verify(service, forged, forger_key).returncode == 0  # only the key was wrong


async def test_the_latest_checkpoint_is_served_and_verifies_with_the_gate_key(
    bus: Bus, service: ServiceProcess, facts: Any, public_key: Path
) -> None:
    await anchored_release(bus, facts)
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        answer = await client.get("/audit/checkpoint")  # open: no session
    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert set(envelope) == {"payload", "payloadType", "signatures"}
    checkpoint = parse_checkpoint(
        verified_payload(envelope, public_key_from_file(public_key), PAYLOAD_TYPE)
    )
    published = {e["id"] for e in bus.matching("audit-checkpoint", lambda e: True)}
    assert f"checkpoint:{checkpoint.chain}:{checkpoint.number}" in published
