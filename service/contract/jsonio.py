"""Strict JSON intake: size, UTF-8, I-JSON (no duplicate keys, no lone surrogates), depth."""

import json
import re
from typing import Any

from service.contract.errors import BadInput, ErrorKind, json_kind
from service.domain.vocab import MAX_JSON_DEPTH

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers could keep different duplicates and so hash or sign different data;
    # RFC 8785 requires I-JSON (RFC 7493), which forbids duplicate names.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_object(raw: bytes | None, max_bytes: int) -> dict[str, Any]:
    """Parses one message value into a JSON object or raises BadInput (too-large/invalid-json)."""
    if raw is None:
        raise BadInput(ErrorKind.INVALID_JSON, "message has no value (null)")
    if len(raw) > max_bytes:
        raise BadInput(ErrorKind.TOO_LARGE, f"message is {len(raw)} bytes, at most {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(ErrorKind.INVALID_JSON, f"not UTF-8: bad byte at {exc.start}") from exc
    try:
        doc = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except RecursionError as exc:
        raise BadInput(ErrorKind.INVALID_JSON, f"nesting deeper than {MAX_JSON_DEPTH}") from exc
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, over-long integers
        raise BadInput(ErrorKind.INVALID_JSON, f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        detail = f"top level is a JSON {json_kind(doc)}, not an object"
        raise BadInput(ErrorKind.INVALID_JSON, detail)
    _check_depth(doc)
    # Strict UTF-8 decoding already refused raw surrogates; only a \uD8xx-\uDFxx escape can
    # smuggle one in, so the full scan runs only when the text holds such an escape.
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(doc):
        # A lone surrogate cannot be encoded as UTF-8: not hashable, not storable.
        raise BadInput(ErrorKind.INVALID_JSON, "string holds a lone surrogate escape")
    return doc


def _check_depth(doc: dict[str, Any]) -> None:
    """Level by level, so a hostile document cannot exhaust the stack while being checked."""
    level: list[Any] = [doc]
    depth = 1
    while level:
        if depth > MAX_JSON_DEPTH:
            raise BadInput(ErrorKind.INVALID_JSON, f"nesting deeper than {MAX_JSON_DEPTH}")
        below: list[Any] = []
        for container in level:
            values = container.values() if isinstance(container, dict) else container
            below.extend(v for v in values if isinstance(v, dict | list))
        level = below
        depth += 1


def _has_lone_surrogate(doc: dict[str, Any]) -> bool:
    stack: list[Any] = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False
