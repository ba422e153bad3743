"""Constrained field types the payload models are built from (limits are in vocab.py)."""

import math
from collections.abc import Callable, Hashable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from service.domain import vocab as v

Id = Annotated[str, StringConstraints(min_length=1, max_length=v.ID_MAX, pattern=v.ID_PATTERN)]
Identity = Annotated[
    str, StringConstraints(min_length=3, max_length=v.IDENTITY_MAX, pattern=v.IDENTITY_PATTERN)
]
ManifestId = Annotated[str, StringConstraints(max_length=160, pattern=v.MANIFEST_ID_PATTERN)]
AsSent = Annotated[str, StringConstraints(max_length=v.MAX_AS_SENT)]
Shown = Annotated[str, StringConstraints(max_length=v.MAX_SHOWN + 16, pattern=v.SHOWN_PATTERN)]
Sha256 = Annotated[str, StringConstraints(pattern=v.HASH_PATTERN)]
Word = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=v.WORD_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=v.MAX_TEXT)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=v.MAX_NOTE)]
Detail = Annotated[str, StringConstraints(max_length=v.MAX_NOTE)]
Revision = Annotated[int, Field(ge=1, le=v.MAX_SAFE_INT)]
Count = Annotated[int, Field(ge=0, le=v.MAX_SAFE_INT)]

T = TypeVar("T")


def unique(what: str, key: Callable[[Any], Hashable] = lambda item: item) -> AfterValidator:
    """A list validator refusing duplicates: each entry must be addressable on its own."""

    def check(items: list[T]) -> list[T]:
        seen: set[Hashable] = set()
        for item in items:
            k = key(item)
            if k in seen:
                raise ValueError(f"duplicate {what} {k!r}")
            seen.add(k)
        return items

    return AfterValidator(check)


UniqueIdentities = unique("identity")


def check_body(body: dict[str, Any]) -> dict[str, Any]:
    """Bounds nesting and keeps numbers inside what RFC 8785 (and JavaScript) can represent."""
    stack: list[tuple[Any, int, str]] = [(body, 1, "body")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict | list):
            if depth > v.MAX_BODY_DEPTH:
                raise ValueError(f"nesting deeper than {v.MAX_BODY_DEPTH} levels at {path}")
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((item, depth + 1, f"{path}.{key}") for key, item in pairs)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and abs(value) > v.MAX_SAFE_INT:
            raise ValueError(f"integer at {path} is outside +-(2**53-1); send it as a string")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"number at {path} is not finite")
    return body


Body = Annotated[
    dict[str, Any],
    AfterValidator(check_body),
    WithJsonSchema(
        {"type": "object", "description": "the packet document itself: any JSON object"}
    ),
]
