"""Why an input message is bad: the dead-letter error kinds and a readable explanation."""

from enum import StrEnum
from typing import Any

from pydantic import ValidationError


class ErrorKind(StrEnum):
    """The `error_kind` of a dead-letter event (docs/contract.md): one per way input can be bad."""

    INVALID_JSON = "invalid-json"
    NOT_A_CLOUDEVENT = "not-a-cloudevent"
    UNKNOWN_TYPE = "unknown-type"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported-schema-version"
    INVALID_DATA = "invalid-data"
    TOO_LARGE = "too-large"
    HASH_MISMATCH = "hash-mismatch"
    REVISION_CONFLICT = "revision-conflict"
    UNKNOWN_MANIFEST = "unknown-manifest"
    # An early event (service/domain/parking.py) when no room is left to hold it.
    EARLY_EVENT_LIMIT = "early-event-limit"
    # A record that kept failing for a reason that is neither bad input nor an outage
    # (a bug): dead-lettered with the error so the partition moves on and it can be replayed.
    PROCESSING_ERROR = "processing-error"


_MAX_DETAIL = 1000


class BadInput(Exception):
    """An input message that can never be processed: dead-letter it, never retry it."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        # The detail travels in a dead-letter event and logs; hostile input (a megabyte-long
        # key) must not make it unbounded. The raw bytes are kept whole in the dead letter.
        if len(detail) > _MAX_DETAIL:
            detail = detail[: _MAX_DETAIL - 3] + "..."
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


_MAX_LISTED = 5


def explain(exc: ValidationError, prefix: str = "") -> str:
    """Flattens pydantic errors into `path: problem; ...`, naming each field path."""
    errors = exc.errors(include_url=False)
    parts = [f"{_path(prefix, err['loc'])}: {_problem(err)}" for err in errors[:_MAX_LISTED]]
    if len(errors) > _MAX_LISTED:
        parts.append(f"(+{len(errors) - _MAX_LISTED} more)")
    return "; ".join(parts)


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path or "event"


def _problem(err: Any) -> str:
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    if kind == "missing":
        return "required field missing"
    if kind == "extra_forbidden":
        return "unknown field (new fields come with a new schemaversion)"
    if kind == "too_long" and "actual_length" in ctx:
        return f"list has {ctx['actual_length']} items, at most {ctx['max_length']}"
    if kind == "too_short" and "actual_length" in ctx:
        return f"list has {ctx['actual_length']} items, at least {ctx['min_length']}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return f"{err['msg']} (got {_short(err.get('input'))})"


def _short(value: object) -> str:
    # Never echo text: a detail ends up in logs, and a string may be a packet body or a
    # secret sent in the wrong field. Its type and length are enough to find the problem.
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, int | float | bool) or value is None:
        return repr(value)
    return f"a JSON {json_kind(value)}"


def json_kind(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")
