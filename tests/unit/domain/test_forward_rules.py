"""Forward decisions: allowed only inside the approved audience of a live release."""

from datetime import timedelta
from typing import Any

import pytest

from service.domain.commands import (
    DEFAULT_PARKING,
    ApprovalDecided,
    ForwardRequested,
    PacketReady,
    Tick,
)
from tests.support import builders
from tests.unit.domain.builders import T0, Log, approval_data, events_of, packet_data


def forward(
    recipients: list[str],
    revision: int = 1,
    request_id: str = "FR-1",
    manifest_id: str | None = None,
    packet_id: str = "RP-1",
) -> ForwardRequested:
    target = {"packet_id": packet_id, "revision": revision}
    data = builders.forward(target, recipients, request_id=request_id, manifest_id=manifest_id)
    return ForwardRequested(f"evt-{request_id}", data)


def released_log(**approval: Any) -> Log:
    log = Log()
    packet = packet_data(1)
    log.send(PacketReady("ready-1", packet))
    log.send(ApprovalDecided("ap-1", approval_data(packet, valid_from=T0, **approval)))
    return log


def outcome(log: Log, request: ForwardRequested, now: Any = T0) -> dict[str, Any]:
    decision = log.send(request, now)
    allowed = events_of(decision, "forward-allowed")
    blocked = events_of(decision, "blocked-forward")
    assert len(allowed) + len(blocked) == 1
    return dict((allowed or blocked)[0]["data"]) | {"allowed": bool(allowed)}


def test_a_forward_inside_the_audience_of_a_released_revision_is_allowed() -> None:
    result = outcome(released_log(), forward(["exec:general-counsel"]))
    assert result["allowed"] and result["blocked_recipients"] == []


def test_a_forward_with_one_outside_recipient_is_blocked_whole() -> None:
    result = outcome(released_log(), forward(["exec:general-counsel", "user:someone@partner"]))
    assert not result["allowed"]
    assert result["reason"] == "outside-audience"
    assert result["blocked_recipients"] == ["user:someone@partner"]


@pytest.mark.parametrize("lookalike", ["EXEC:CRO", " exec:cro", "exec:cro ", "exec:cro\t"])
def test_a_recipient_differing_only_in_case_or_whitespace_is_outside(lookalike: str) -> None:
    result = outcome(released_log(), forward([lookalike]))
    assert result["reason"] == "outside-audience"


def after_grace(log: Log, request: ForwardRequested) -> dict[str, Any]:
    """A forward naming a revision not stored waits for it; past its grace it is decided."""
    assert log.send(request).outcome == "parked"
    return outcome(log, Tick(), T0 + DEFAULT_PARKING.grace)  # type: ignore[arg-type]


def test_a_forward_for_an_unknown_packet_is_blocked_unknown_packet() -> None:
    assert after_grace(Log(), forward(["exec:cro"]))["reason"] == "unknown-packet"


def test_a_forward_for_an_unknown_revision_of_a_known_packet_is_revision_mismatch() -> None:
    assert after_grace(released_log(), forward(["exec:cro"], revision=4))["reason"] == (
        "revision-mismatch"
    )


def test_a_forward_naming_another_manifest_is_manifest_mismatch() -> None:
    result = outcome(released_log(), forward(["exec:cro"], manifest_id="RP-1@r2"))
    assert result["reason"] == "manifest-mismatch"


def test_a_forward_before_release_is_not_released() -> None:
    log = Log()
    log.send(PacketReady("ready-1", packet_data(1)))
    assert outcome(log, forward(["exec:cro"]))["reason"] == "not-released"


def test_a_forward_after_the_window_is_expired_even_before_the_scheduler_ran() -> None:
    log = released_log(valid_until=T0 + timedelta(hours=1))
    result = outcome(log, forward(["exec:cro"]), T0 + timedelta(hours=1))
    assert result["reason"] == "expired"
    assert log.state(1) == "expired"


def test_a_forward_after_supersession_is_superseded() -> None:
    log = released_log()
    log.send(PacketReady("ready-2", packet_data(2)))
    assert outcome(log, forward(["exec:cro"]))["reason"] == "superseded"


def test_a_repeated_request_id_is_answered_once() -> None:
    log = released_log()
    outcome(log, forward(["exec:cro"]))
    again = log.send(ForwardRequested("another-event", forward(["exec:cro"]).data))
    assert again.outcome == "duplicate" and again.facts == ()


def test_the_expired_revision_stays_expired_after_a_tick() -> None:
    log = released_log(valid_until=T0 + timedelta(hours=1))
    log.send(Tick(), T0 + timedelta(hours=2))
    assert log.state(1) == "expired"


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("exec:CRO", "exec:CRO"),
        ("exec:cro ", "exec:cro "),
        ("", ""),
        ("Exec:cro", "Exec:cro"),
        ("exec:c\x00ro\n", "exec:c\\u0000ro\\u000a"),
    ],
)
def test_a_malformed_or_look_alike_recipient_is_blocked_outside_the_audience(
    sent: str, shown: str
) -> None:
    log = released_log()
    result = outcome(log, forward(["exec:cro", sent]))
    assert not result["allowed"]
    assert (result["reason"], result["blocked_recipients"]) == ("outside-audience", [shown])
    assert result["recipients"] == ["exec:cro", shown]
    assert log.facts[-1].kind == "forward-blocked"


def test_ten_thousand_recipients_are_blocked_whole_with_the_limit_named() -> None:
    log = released_log()
    result = outcome(log, forward(["exec:cro"] * 10_000))
    assert (result["allowed"], result["reason"]) == (False, "outside-audience")
    assert "10000 recipients, over the limit of 50" in result["detail"]
    assert len(result["recipients"]) == len(result["blocked_recipients"]) == 50
    assert log.facts[-1].kind == "forward-blocked"


def test_a_forward_naming_nobody_is_blocked() -> None:
    result = outcome(released_log(), forward([]))
    assert (result["allowed"], result["reason"], result["detail"]) == (
        False,
        "outside-audience",
        "no recipients named",
    )


def test_a_long_recipient_is_shown_cut_with_its_length() -> None:
    result = outcome(released_log(), forward(["x" * 600]))
    assert result["blocked_recipients"] == ["x" * 512 + "…(+88)"]


def test_fifty_recipients_inside_the_audience_are_allowed_and_fifty_one_are_not() -> None:
    log = released_log()
    assert outcome(log, forward(["exec:cro"] * 50, request_id="FR-50"))["allowed"]
    over = outcome(log, forward(["exec:cro"] * 51, request_id="FR-51"))
    assert (over["allowed"], over["reason"]) == (False, "outside-audience")
