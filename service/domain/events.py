"""Output events, built from what a fact records; their ids are derived, never random."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.domain.canonical import digest, manifest_id
from service.domain.commands import Origin
from service.domain.facts import Outgoing
from service.domain.times import format_time

MAX_ID = 256


def lifecycle(
    packet_id: str,
    revision: int,
    from_state: str | None,
    to_state: str | None,
    reason: str,
    detail: str,
    cause_event_id: str,
    at: datetime,
    superseded_by: int | None = None,
    extra: Mapping[str, Any] | None = None,
    tag: str = "refused",
) -> Outgoing:
    """`extra`: what version 2 adds (`approvals`); `tag` names a same-state event's id
    (`refused`, or `counted` for one approval of a quorum)."""
    mid = manifest_id(packet_id, revision)
    # A state is entered once per revision, so "<manifest_id>:lifecycle:<to_state>" is
    # unique, and unlike the manifest's "<manifest_id>:released" on every output topic; a
    # refusal leaves the state as it was and is named by the input that caused it.
    if from_state != to_state:
        event_id = f"{mid}:lifecycle:{to_state}"
    elif len(mid) + len(cause_event_id) <= MAX_ID - len(f":{tag}:"):
        event_id = f"{mid}:{tag}:{cause_event_id}"
    else:  # keep ids within the envelope's limit, still derived from the cause
        event_id = f"{mid}:{tag}:{digest(cause_event_id)[7:39]}"
    data = {
        "packet_id": packet_id,
        "revision": revision,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        "detail": detail,
        "cause_event_id": cause_event_id,
        "superseded_by": superseded_by,
        "at": format_time(at),
        **(extra or {}),
    }
    return _out("packet-lifecycle", event_id, packet_id, at, data)


def manifest(data: Mapping[str, Any], at: datetime) -> Outgoing:
    mid = str(data["manifest_id"])
    return _out("release-manifest", f"{mid}:released", str(data["packet_id"]), at, data)


def forward_outcome(allowed: bool, data: Mapping[str, Any], at: datetime) -> Outgoing:
    topic, suffix = ("forward-allowed", "allowed") if allowed else ("blocked-forward", "blocked")
    return _out(topic, f"{data['request_id']}:{suffix}", str(data["packet_id"]), at, data)


def _out(
    topic: str, event_id: str, packet_id: str, at: datetime, data: Mapping[str, Any]
) -> Outgoing:
    return Outgoing(topic, packet_id, event_id, packet_id, format_time(at), dict(data))


def dead_letter(origin: Origin, kind: str, detail: str) -> Outgoing:
    """The dead letter of one input record; its id names the record's place, so a record
    dead-lettered again (a redelivery, or a parked event after its grace) is the same event."""
    where = f"{origin.topic}:{origin.partition}:{origin.offset}"
    data = {
        "source_topic": origin.topic,
        "partition": origin.partition,
        "offset": origin.offset,
        "key": origin.key,
        "raw_value": origin.raw_value,
        "error_kind": kind,
        "error_detail": detail,
        "received_at": origin.received_at,
    }
    subject = f"{origin.topic}/{origin.partition}/{origin.offset}"
    return Outgoing(
        "dead-letter", origin.key or "", f"dead-letter:{where}", subject, origin.received_at, data
    )
