"""Snapshot documents: a packet's log as JSON text, each fact's text made once and reused."""

from dataclasses import replace

from service.adapters.mongo_docs import FactTexts, from_snapshot, snapshot_doc
from service.adapters.store import Log as StoredLog
from service.domain.commands import ApprovalDecided, PacketReady
from tests.unit.domain.builders import Log, approval_data, packet_data


def approved_log() -> Log:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet)))
    return log


def test_a_snapshot_reads_back_as_the_same_facts_and_registry() -> None:
    log = approved_log()
    stored = StoredLog(log.facts, [1])

    back = from_snapshot(snapshot_doc("RP-1", stored, FactTexts()))

    assert [(f.hashed_content(), f.hash) for f in back] == [
        (f.hashed_content(), f.hash) for f in log.facts
    ]
    assert back.numbers == [1]


def test_a_later_snapshot_of_the_packet_reuses_the_text_of_facts_already_written() -> None:
    log = approved_log()
    texts = FactTexts()
    first = snapshot_doc("RP-1", log.facts[:1], texts)
    made = dict(texts.texts)

    second = snapshot_doc("RP-1", log.facts, texts)

    assert all(texts.texts[key] is text for key, text in made.items()), "made once, kept"
    assert len(texts.texts) == len(log.facts)
    assert second["log"].startswith(first["log"][:-1])


def test_two_facts_claiming_one_hash_keep_their_own_texts() -> None:
    log = approved_log()
    first, second = log.facts[0], log.facts[1]
    forged = replace(second, hash=first.hash)  # an edited store: never trusted for content
    texts = FactTexts()

    back = from_snapshot(snapshot_doc("RP-1", [first, forged], texts))

    assert [f.id for f in back] == [first.id, second.id]


def test_the_texts_kept_stay_within_their_limit_dropping_the_oldest() -> None:
    log = approved_log()
    texts = FactTexts(limit=1)

    snapshot_doc("RP-1", log.facts, texts)

    assert list(texts.texts) == [(log.facts[-1].id, log.facts[-1].hash)]
