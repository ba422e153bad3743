"""The wire date-time type: RFC 3339 text in, aware UTC datetimes inside (domain/times.py)."""

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from service.domain.times import format_time, parse_time

__all__ = ["UtcDateTime", "format_time", "parse_time"]

UtcDateTime = Annotated[
    datetime,
    BeforeValidator(parse_time),
    PlainSerializer(format_time, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 with offset; the service writes UTC as ...Z",
        }
    ),
]
