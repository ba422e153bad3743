"""Whatever arrives, decode() returns the event as sent or raises BadInput with the kind the
contract's order gives it (docs/contract.md, dead letters): nothing else escapes."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.contract.decode import Inbound, decode
from service.contract.envelope import INPUT_TYPES
from service.contract.errors import BadInput
from service.domain.canonical import packet_hash
from tests.support.builders import encode, event, rehash

SAFE = 2**53 - 1  # the integers RFC 8785 (and so every digest) can carry
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-SAFE, SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
ENVELOPE_KINDS = {"not-a-cloudevent", "unsupported-schema-version", "unknown-type", "invalid-data"}
DATA_KINDS = {"invalid-data", "hash-mismatch"}


def outcome(raw: bytes, topic: str) -> str:
    """ "decoded" (the event and its data exactly as sent), or the BadInput kind."""
    try:
        inbound = decode(raw, topic)
    except BadInput as bad:
        return str(bad.kind)
    assert isinstance(inbound, Inbound)
    sent = json.loads(raw)
    assert (inbound.event.type, inbound.event.id) == (topic, sent["id"])
    assert inbound.raw_data == sent["data"]
    return "decoded"


def json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw.decode("utf-8")), dict)
    except ValueError:  # not UTF-8 (UnicodeDecodeError is a ValueError) or not JSON
        return False


@settings(max_examples=150)
@given(raw=st.binary(max_size=200), topic=st.sampled_from(INPUT_TYPES))
def test_arbitrary_bytes_are_refused_as_invalid_json_or_as_no_cloudevent(
    raw: bytes, topic: str
) -> None:
    # 200 random bytes are never a whole CloudEvent; a JSON object among them is no envelope.
    allowed = {"invalid-json", "not-a-cloudevent"} if json_object(raw) else {"invalid-json"}
    assert outcome(raw, topic) in allowed


@settings(max_examples=100)
@given(
    where=st.sampled_from(["envelope", "data", "option", "evidence"]),
    key=st.sampled_from(["specversion", "time", "type", "revision", "option_id", "kind", "x"]),
    value=json_values,
)
def test_any_single_field_replaced_by_any_json_is_decoded_or_refused_at_its_level(
    where: str, key: str, value: Any
) -> None:
    doc = event("packet-ready.json")
    target = {
        "envelope": doc,
        "data": doc["data"],
        "option": doc["data"]["options"][0],
        "evidence": doc["data"]["evidence_refs"][0],
    }[where]
    unchanged = key in target and target[key] == value
    target[key] = value
    result = outcome(encode(doc), "packet-ready")
    if unchanged or (where == "envelope" and key not in ("specversion", "time", "type")):
        assert result == "decoded"  # the same value, or an extra attribute (ignored)
    elif where == "envelope":
        assert result in ENVELOPE_KINDS
    else:
        assert result in DATA_KINDS


@settings(max_examples=100)
@given(body=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_any_json_body_within_limits_keeps_its_hash_through_decoding(body: Any) -> None:
    doc = event("packet-ready.json")
    doc["data"]["body"] = body
    doc["data"] = rehash(doc["data"])
    inbound = decode(encode(doc), "packet-ready")
    assert packet_hash(inbound.raw_data) == doc["data"]["packet_hash"]


def test_a_body_integer_beyond_what_rfc8785_can_carry_is_refused_as_invalid_data() -> None:
    doc = event("packet-ready.json")
    doc["data"]["body"] = {"n": 2**53}
    assert outcome(encode(doc), "packet-ready") == "invalid-data"
