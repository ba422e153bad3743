"""decode() refuses messages that are too large, not JSON, not CloudEvents, or mis-typed."""

import pytest

from service.contract.decode import decode
from service.contract.errors import BadInput, ErrorKind
from tests.support.builders import encode, text
from tests.unit.contract.support import drop, nested, packet, put

K = ErrorKind
READY = text("packet-ready.json").encode()

# (case, raw message value, kind, a piece of the detail); all arrive on the packet-ready topic.
# fmt: off
CASES: list[tuple[str, bytes | None, ErrorKind, str]] = [
    ("too large even before parsing", b"{" * 2000, K.TOO_LARGE, "2000 bytes, at most 1000"),
    ("a null message value", None, K.INVALID_JSON, "no value"),
    ("invalid UTF-8", b'{"a": "\xff"}', K.INVALID_JSON, "not UTF-8: bad byte at 7"),
    ("not JSON", b'{"specversion": ', K.INVALID_JSON, "not JSON: Expecting value"),
    ("a JSON array", b"[1, 2]", K.INVALID_JSON, "top level is a JSON array, not an object"),
    ("a JSON string", b'"hello"', K.INVALID_JSON, "JSON string, not an object"),
    ("10_000 levels", b"[" * 10_000 + b"]" * 10_000, K.INVALID_JSON, "nesting deeper than 64"),
    ("65 levels", encode({"a": nested(64)}), K.INVALID_JSON, "nesting deeper than 64"),
    ("a duplicate key", READY.replace(b'"revision": 3', b'"revision": 3, "revision": 4'),
     K.INVALID_JSON, "duplicate key 'revision'"),
    ("a NaN literal", READY.replace(b"41250", b"NaN"), K.INVALID_JSON, "NaN is not JSON"),
    ("a lone surrogate", READY.replace(b'Traders"', b'\\ud800"'),
     K.INVALID_JSON, "lone surrogate"),
    ("missing specversion", packet(drop("specversion")),
     K.NOT_A_CLOUDEVENT, "specversion: required field missing"),
    ("specversion 0.3", packet(put("specversion", "0.3")),
     K.NOT_A_CLOUDEVENT, "specversion: Input should be '1.0' (got a string of 3 "),
    ("data that is not an object", packet(put("data", [1]), rehashed=False),
     K.NOT_A_CLOUDEVENT, "data: Input should be a valid dictionary"),
    ("a time without offset", packet(put("time", "2026-11-27T18:00:00")),
     K.NOT_A_CLOUDEVENT, "time: '2026-11-27T18:00:00' is not an RFC 3339 date-time"),
    ("schemaversion as a string", packet(put("schemaversion", "1")),
     K.NOT_A_CLOUDEVENT, "schemaversion: Input should be a valid integer"),
    ("schemaversion 2", packet(put("schemaversion", 2)),
     K.UNSUPPORTED_SCHEMA_VERSION, "schemaversion 2; packet-ready is read as 1"),
    ("an unknown type", packet(put("type", "packet-exploded")),
     K.UNKNOWN_TYPE, "'packet-exploded' (not an input type) arrived on the 'packet-ready'"),
]
# fmt: on


@pytest.mark.parametrize(
    ("raw", "kind", "detail"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_message_raises_its_kind_with_a_specific_detail(
    raw: bytes | None, kind: ErrorKind, detail: str
) -> None:
    with pytest.raises(BadInput) as caught:
        decode(raw, "packet-ready", max_bytes=1000 if kind is K.TOO_LARGE else 1_048_576)
    assert caught.value.kind is kind
    assert detail in caught.value.detail


def test_a_type_arriving_on_another_types_topic_names_both() -> None:
    with pytest.raises(BadInput) as caught:
        decode(READY, "approval-decision")
    assert caught.value.kind is K.UNKNOWN_TYPE
    assert "'packet-ready' (an input type) arrived on the 'approval-decision' topic" in str(
        caught.value
    )


def test_the_size_limit_is_checked_first_and_is_configurable() -> None:
    assert decode(READY, "packet-ready", max_bytes=len(READY)).data.revision == 3
    with pytest.raises(BadInput) as caught:
        decode(READY, "packet-ready", max_bytes=len(READY) - 1)
    assert caught.value.kind is K.TOO_LARGE


def test_decoding_for_an_output_type_is_a_programming_error_not_bad_input() -> None:
    with pytest.raises(ValueError, match="not an input type"):
        decode(READY, "release-manifest")
