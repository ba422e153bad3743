"""Approval attacks: each is refused with its own reason, audited, and the consumer goes on.

Every test aims at fresh packets. After the attacks a valid reject by the release owner, sent
on the same key (so the same approval-decision partition), must still be processed; the
attacked revision ends `rejected`, never with a manifest (checked again in
test_after_attacks.py).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from service.domain.times import format_time
from tests.security.attacks import (
    PREPARER_SEED,
    SELF_LANE,
    STRANGER,
    UNKNOWN_LANE,
    audited,
    manifests_of,
    marked_packet,
    produce,
    raw_event,
    ready,
    refused,
    rejected_by_owner,
)
from tests.support.builders import (
    AUDIENCE,
    FAST_LANE,
    LANE,
    OWNER,
    OWNER_SEED,
    PREPARER,
    SECOND_OWNER,
    SECOND_SEED,
    STRANGER_SEED,
    approval,
    new_id,
    now,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

Packet = dict[str, Any]
Build = Callable[[Packet], dict[str, Any]]


def _tampered(**changes: Any) -> Build:
    """Signed by the owner, then changed: the signature no longer covers what is claimed."""
    return lambda pkt: {**approval(pkt), **changes}


def _resigned_signature(make: Callable[[str], str]) -> Build:
    def build(pkt: Packet) -> dict[str, Any]:
        signed = approval(pkt)
        return {**signed, "signature": make(signed["signature"])}

    return build


def _window(start: timedelta, end: timedelta) -> Build:
    """A validly signed approval whose window is [now + start, now + end)."""

    def build(pkt: Packet) -> dict[str, Any]:
        at = now()
        return approval(pkt, valid_from=at + start, valid_until=at + end)

    return build


# name -> (lane of the attacked packet, decision builder, reason, a phrase of the detail)
ATTACKS: dict[str, tuple[str, Build, str, str]] = {
    "forged: audience widened after signing": (
        LANE,
        _tampered(audience=[*AUDIENCE, "exec:vp-support"]),
        "bad-signature",
        f"{OWNER}'s key",
    ),
    "forged: window stretched after signing": (
        LANE,
        lambda pkt: {**approval(pkt), "valid_until": format_time(now() + timedelta(days=6))},
        "bad-signature",
        f"{OWNER}'s key",
    ),
    "forged: approver swapped to the other owner after signing": (
        LANE,
        _tampered(approver=SECOND_OWNER),
        "bad-signature",
        f"{SECOND_OWNER}'s key",
    ),
    "owner A signed with owner B's key": (
        LANE,
        lambda pkt: approval(pkt, approver=OWNER, seed=SECOND_SEED),
        "bad-signature",
        f"{OWNER}'s key",
    ),
    "unknown approver": (
        LANE,
        lambda pkt: approval(pkt, approver=STRANGER, seed=STRANGER_SEED),
        "not-release-owner",
        f"{STRANGER} is not a release owner of lane {LANE}",
    ),
    "release owner of another lane only": (
        LANE,
        lambda pkt: approval(pkt, approver=PREPARER, seed=PREPARER_SEED),
        "not-release-owner",
        f"{PREPARER} is not a release owner of lane {LANE}",
    ),
    "self-approval by the preparer, who owns the lane": (
        SELF_LANE,
        lambda pkt: approval(pkt, approver=PREPARER, seed=PREPARER_SEED),
        "self-approval",
        f"{PREPARER} prepared this revision",
    ),
    "signature not base64": (
        LANE,
        _resigned_signature(lambda _sig: "%%% not base64 %%%"),
        "bad-signature",
        "does not verify",
    ),
    "signature of the wrong length (63 bytes)": (
        LANE,
        _resigned_signature(lambda sig: base64.b64encode(base64.b64decode(sig)[:63]).decode()),
        "bad-signature",
        "does not verify",
    ),
    "a private key pasted where the signature belongs": (
        LANE,
        _resigned_signature(lambda _sig: base64.b64encode(OWNER_SEED).decode()),
        "bad-signature",
        "does not verify",
    ),
    "valid signature bytes with a line break inside": (
        LANE,
        _resigned_signature(lambda sig: sig[:40] + "\n" + sig[40:]),
        "bad-signature",
        "does not verify",
    ),
    "audience outside the lane": (
        LANE,
        lambda pkt: approval(pkt, audience=[*AUDIENCE, "user:someone@partner"]),
        "audience-out-of-scope",
        "user:someone@partner",
    ),
    "audience differing from an authorized recipient only in case": (
        LANE,
        lambda pkt: approval(pkt, audience=["exec:CRO"]),
        "audience-out-of-scope",
        "exec:CRO",
    ),
    "empty audience": (
        LANE,
        lambda pkt: approval(pkt, audience=[]),
        "audience-out-of-scope",
        "audience is empty",
    ),
    "window longer than max_validity": (
        LANE,
        _window(timedelta(seconds=-5), timedelta(days=8)),
        "bad-window",
        "exceeds max_validity",
    ),
    "window inverted": (
        LANE,
        _window(timedelta(hours=1), timedelta(hours=-1)),
        "bad-window",
        "not before",
    ),
    "window of no length": (
        LANE,
        _window(timedelta(hours=1), timedelta(hours=1)),
        "bad-window",
        "not before",
    ),
    "window already past": (
        LANE,
        _window(timedelta(days=-2), timedelta(hours=-1)),
        "bad-window",
        "already past",
    ),
    "approval naming another lane (its owner's valid signature)": (
        LANE,
        lambda pkt: approval(pkt, lane_id=FAST_LANE),
        "lane-mismatch",
        f"approval names {FAST_LANE}",
    ),
    "forged option_set_hash (owner-signed)": (
        LANE,
        lambda pkt: approval(pkt, option_set_hash="sha256:" + "0" * 64),
        "hash-mismatch",
        "option_set_hash",
    ),
    "revision that does not exist": (
        LANE,
        lambda pkt: approval(pkt, revision=7),
        "unknown-revision",
        "revision 7",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_an_approval_attack_is_refused_with_its_reason_and_the_consumer_goes_on(
    name: str, bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    lane, build, reason, detail = ATTACKS[name]
    pkt = marked_packet(new_id("RP"), lane=lane)
    attacked.add(pkt["packet_id"])
    await ready(bus, pkt)

    where, _ = await refused(bus, service, build(pkt), reason, detail)

    good = await rejected_by_owner(bus, pkt)
    assert good.partition == where.partition
    assert manifests_of(bus, pkt["packet_id"]) == []


async def test_an_approval_replayed_against_another_revision_or_hash_is_refused(
    bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    pid = new_id("RP")
    attacked.add(pid)
    r1, r2 = marked_packet(pid, 1), marked_packet(pid, 2)
    await ready(bus, r1)
    signed_for_r1 = approval(r1)
    await ready(bus, r2)  # r1 is now superseded by r2

    # The same signed approval moved to r2: the signature covers `revision`, so it breaks.
    await refused(bus, service, {**signed_for_r1, "revision": 2}, "bad-signature")
    # Unchanged, it names a revision that is no longer pending.
    await refused(bus, service, signed_for_r1, "not-pending", "revision is superseded")
    # The owner really signs r2, but over r1's (old) packet_hash.
    old_hash = approval(r2, packet_hash=r1["packet_hash"])
    await refused(bus, service, old_hash, "hash-mismatch", f"packet_hash {r1['packet_hash']}")

    await rejected_by_owner(bus, r2)
    assert manifests_of(bus, pid) == []


async def test_a_decision_id_is_never_honoured_twice(
    bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    pid = new_id("RP")
    attacked.add(pid)
    r1, r2 = marked_packet(pid, 1), marked_packet(pid, 2)
    await ready(bus, r1)
    used = new_id("AD")
    reject = approval(r1, decision="reject", decision_id=used)
    await bus.send("approval-decision", reject, event_id=new_id("evt"))
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:rejected")
    await ready(bus, r2)

    await refused(bus, service, approval(r2, decision_id=used), "decision-reused", used)
    await refused(bus, service, approval(r1, decision_id=used), "not-pending", "rejected")
    await refused(bus, service, approval(r1), "not-pending", "rejected")

    await rejected_by_owner(bus, r2)
    assert manifests_of(bus, pid) == []


async def test_a_replayed_approval_of_a_released_revision_releases_nothing_again(
    bus: Bus, service: ServiceProcess
) -> None:
    pid = new_id("RP")
    r1 = marked_packet(pid, 1)
    await ready(bus, r1)
    signed = approval(r1)
    first = new_id("evt")
    await bus.send("approval-decision", signed, event_id=first)
    await bus.wait_for("release-manifest", f"{pid}@r1:released")

    # The same bytes under a new event id: a second decision on a released revision.
    await refused(bus, service, signed, "not-pending", "revision is released")
    # The very same event again: a duplicate, dropped without a trace.
    await bus.send("approval-decision", signed, event_id=first)

    # The consumer goes on behind both, on the same key.
    r2 = marked_packet(pid, 2)
    await ready(bus, r2)
    await rejected_by_owner(bus, r2)
    assert {e["id"] for e in manifests_of(bus, pid)} == {f"{pid}@r1:released"}
    assert len({e["data"]["manifest_hash"] for e in manifests_of(bus, pid)}) == 1
    notes = bus.matching("packet-lifecycle", lambda e: e["data"]["cause_event_id"] == first)
    assert {(e["data"]["from_state"], e["data"]["to_state"]) for e in notes} == {
        ("pending", "approved"),
        ("approved", "released"),
    }


async def test_a_packet_in_an_unknown_lane_is_rejected_and_cannot_be_approved(
    bus: Bus, service: ServiceProcess, attacked: set[str]
) -> None:
    pid = new_id("RP")
    attacked.add(pid)
    r1 = marked_packet(pid, 1, lane=UNKNOWN_LANE)
    event_id = new_id("evt")
    await produce(bus, "packet-ready", raw_event("packet-ready", r1, pid, event_id), pid)
    [note] = await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:rejected")
    assert (note["data"]["from_state"], note["data"]["reason"]) == (None, "unknown-lane")
    fact = await audited(service, pid, event_id, "created", "unknown-lane")
    assert fact["to_state"] == "rejected"

    # Even the owner's valid signature cannot approve a revision no lane governs.
    await refused(bus, service, approval(r1), "not-release-owner", "no lane")

    r2 = marked_packet(pid, 2)
    await ready(bus, r2)
    await rejected_by_owner(bus, r2)
    assert manifests_of(bus, pid) == []
