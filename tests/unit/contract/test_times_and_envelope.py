"""One time format everywhere, and outbound CloudEvents that our own decoder accepts."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.contract.envelope import EVENT_TYPES, INPUT_TYPES, CloudEvent, make_event
from service.domain.times import format_time, parse_time

T = datetime(2026, 11, 27, 18, 5, tzinfo=UTC)


def test_whole_seconds_are_written_without_a_fraction() -> None:
    assert format_time(T) == "2026-11-27T18:05:00Z"


def test_sub_second_times_keep_six_digits_rather_than_being_truncated() -> None:
    assert format_time(T.replace(microsecond=250000)) == "2026-11-27T18:05:00.250000Z"


def test_other_offsets_are_written_as_the_same_instant_in_utc() -> None:
    plus_two = T.astimezone(timezone(timedelta(hours=2)))
    assert format_time(plus_two) == "2026-11-27T18:05:00Z"


def test_a_naive_datetime_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 11, 27, 18, 5))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27",
        "2026-11-27T18:05:00",
        "2026-11-27 18:05:00Z",
        "2026-11-27T18:05Z",
        "2026-13-27T18:05:00Z",
        "2026-11-27T18:05:60Z",
        "2026-W48-5T18:05:00Z",
        "tomorrow",
    ],
)
def test_anything_but_rfc3339_with_an_offset_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


@settings(max_examples=150)
@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 1)))
def test_format_and_parse_round_trip_exactly(dt: datetime) -> None:
    text = format_time(dt)
    assert parse_time(text) == dt
    assert format_time(parse_time(text)) == text


def test_make_event_builds_a_cloudevent_our_envelope_model_accepts() -> None:
    event = make_event("release-manifest", "RP-1@r1:released", "RP-1", T, {"a": 1})
    assert event == {
        "specversion": "1.0",
        "id": "RP-1@r1:released",
        "source": "urn:release-gate",
        "type": "release-manifest",
        "subject": "RP-1",
        "time": "2026-11-27T18:05:00Z",
        "datacontenttype": "application/json",
        "schemaversion": 1,
        "data": {"a": 1},
    }
    assert CloudEvent.model_validate(event).time == T


def test_make_event_refuses_a_type_outside_the_contract() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        make_event("packet-exploded", "x", "RP-1", T, {})


def test_the_contract_has_ten_types_of_which_five_are_inputs() -> None:
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES)) == 11
    assert set(INPUT_TYPES) < set(EVENT_TYPES) and len(INPUT_TYPES) == 5
