"""Whatever arrives, decode() returns an Inbound or raises BadInput: nothing else escapes."""

import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.contract.decode import decode
from service.contract.envelope import INPUT_TYPES
from service.contract.errors import BadInput
from service.domain.canonical import packet_hash
from tests.support.builders import encode, event, rehash

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def decodes_or_refuses(raw: bytes, topic: str) -> None:
    with contextlib.suppress(BadInput):
        decode(raw, topic)


@settings(max_examples=150)
@given(raw=st.binary(max_size=200), topic=st.sampled_from(INPUT_TYPES))
def test_arbitrary_bytes_are_decoded_or_refused(raw: bytes, topic: str) -> None:
    decodes_or_refuses(raw, topic)


@settings(max_examples=100)
@given(
    where=st.sampled_from(["envelope", "data", "option", "evidence"]),
    key=st.sampled_from(["specversion", "time", "type", "revision", "option_id", "kind", "x"]),
    value=json_values,
)
def test_any_single_field_replaced_by_any_json_is_decoded_or_refused(
    where: str, key: str, value: Any
) -> None:
    doc = event("packet-ready.json")
    target = {
        "envelope": doc,
        "data": doc["data"],
        "option": doc["data"]["options"][0],
        "evidence": doc["data"]["evidence_refs"][0],
    }[where]
    target[key] = value
    decodes_or_refuses(encode(doc), "packet-ready")


@settings(max_examples=100)
@given(body=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_any_json_body_within_limits_keeps_its_hash_through_decoding(body: Any) -> None:
    doc = event("packet-ready.json")
    doc["data"]["body"] = body
    try:
        doc["data"] = rehash(doc["data"])
    except ValueError:
        return  # integers beyond 2**53 cannot be canonicalized: refused as invalid-data below
    inbound = decode(encode(doc), "packet-ready")
    assert packet_hash(inbound.raw_data) == doc["data"]["packet_hash"]
