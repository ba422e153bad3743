"""RFC 3339 UTC timestamps as text: the one form the fact log and every output use (stdlib only)."""

import re
from datetime import UTC, datetime

# RFC 3339 section 5.6 date-time with a mandatory offset; fromisoformat alone would also
# take naive times, week dates and other ISO 8601 forms the contract does not allow.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)


def format_time(dt: datetime) -> str:
    """The single output form: `YYYY-MM-DDTHH:MM:SSZ`, with `.ffffff` only if sub-second.

    Whole seconds keep the common case byte-identical to the contract's examples; when a
    time has microseconds they are kept (six digits) rather than silently truncated.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: times must be timezone-aware")
    u = dt.astimezone(UTC)
    text = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    if u.microsecond:
        text += f".{u.microsecond:06d}"
    return text + "Z"


def parse_time(value: object) -> datetime:
    """Parses an RFC 3339 date-time (or takes an aware datetime) and returns it in UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: times must be timezone-aware")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 date-time string, got {type(value).__name__}")
    if not _RFC3339.fullmatch(value):
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ValueError(f"{shown!r} is not an RFC 3339 date-time with a UTC offset")
    try:
        # fromisoformat rejects lower-case t/z, which RFC 3339 allows; digits are unaffected.
        parsed = datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date-time: {exc}") from exc
    return parsed.astimezone(UTC)
