"""The scheduler's due times: noted by the gate, merged from scans, taken once due."""

from datetime import UTC, datetime, timedelta

from service.gate.due import DueTimes

T0 = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_a_packet_is_taken_once_its_earliest_revision_is_due_and_not_again() -> None:
    due = DueTimes(horizon=timedelta(minutes=2))
    due.note("P1", [T0 + timedelta(seconds=30), None, T0 + timedelta(seconds=10)], T0)
    assert due.take(T0 + timedelta(seconds=9), 10) == []
    assert due.take(T0 + timedelta(seconds=10), 10) == ["P1"]
    assert due.take(T0 + timedelta(seconds=60), 10) == []


def test_times_beyond_the_horizon_are_left_to_a_later_scan() -> None:
    due = DueTimes(horizon=timedelta(minutes=2))
    due.note("P1", [T0 + timedelta(minutes=3)], T0)
    assert due.at == {}


def test_a_packet_without_due_revisions_is_forgotten_when_noted_again() -> None:
    due = DueTimes(horizon=timedelta(minutes=2))
    due.note("P1", [T0 + timedelta(seconds=5)], T0)
    due.note("P1", [None], T0)
    assert due.take(T0 + timedelta(minutes=1), 10) == []


def test_a_scan_adds_packets_and_keeps_the_earlier_of_two_times() -> None:
    due = DueTimes(horizon=timedelta(minutes=2))
    due.note("P1", [T0 + timedelta(seconds=50)], T0)
    due.merge({"P1": T0 + timedelta(seconds=20), "P2": T0 + timedelta(seconds=40)})
    assert due.take(T0 + timedelta(seconds=45), 10) == ["P1", "P2"]


def test_take_returns_the_earliest_first_up_to_the_limit() -> None:
    due = DueTimes(horizon=timedelta(minutes=2))
    due.merge({f"P{i}": T0 + timedelta(seconds=10 - i) for i in range(5)})
    assert due.take(T0 + timedelta(seconds=30), 2) == ["P4", "P3"]
    assert len(due.at) == 3
