"""Revision states and the lifecycle as data: one transitions table, one terminal set."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class RevisionState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    RELEASED = "released"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    REJECTED = "rejected"


S = RevisionState
TERMINAL: frozenset[RevisionState] = frozenset({S.SUPERSEDED, S.EXPIRED, S.REJECTED})

# Why supersession has several reasons: a newer revision, changed evidence, and a failed
# re-check at release time all make an approved revision stale in different ways.
_SUPERSEDE = frozenset({"newer-revision", "evidence-changed"})

# (from_state, to_state) -> the reasons that may drive it. None is "no state yet".
TRANSITIONS: Mapping[tuple[RevisionState | None, RevisionState], frozenset[str]] = {
    (None, S.PENDING): frozenset({"packet-ready"}),
    (None, S.SUPERSEDED): frozenset({"out-of-order"}),
    (None, S.REJECTED): frozenset({"unknown-lane", "evidence-incomplete"}),
    (S.PENDING, S.APPROVED): frozenset({"approved"}),
    (S.PENDING, S.REJECTED): frozenset({"rejected-by-owner"}),
    (S.PENDING, S.EXPIRED): frozenset({"approval-timeout"}),
    (S.PENDING, S.SUPERSEDED): _SUPERSEDE,
    (S.APPROVED, S.RELEASED): frozenset({"released"}),
    (S.APPROVED, S.EXPIRED): frozenset({"validity-ended"}),
    (S.APPROVED, S.SUPERSEDED): _SUPERSEDE | {"release-check-failed"},
    (S.RELEASED, S.EXPIRED): frozenset({"validity-ended"}),
    (S.RELEASED, S.SUPERSEDED): _SUPERSEDE,
    # A release owner withdraws an approval or a release; never undone (docs/design.md).
    (S.APPROVED, S.REJECTED): frozenset({"revoked-by-owner"}),
    (S.RELEASED, S.REJECTED): frozenset({"revoked-by-owner"}),
}


class IllegalTransition(ValueError):
    """decide() asked for a move the table does not allow: a bug, never bad input."""


def check_transition(
    from_state: RevisionState | None, to_state: RevisionState, reason: str
) -> None:
    allowed = TRANSITIONS.get((from_state, to_state))
    if allowed is None or reason not in allowed:
        raise IllegalTransition(f"{from_state} -> {to_state} ({reason}) is not in the table")


def is_terminal(state: RevisionState | None) -> bool:
    return state in TERMINAL
