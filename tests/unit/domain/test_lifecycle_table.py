"""The lifecycle table itself, and that decide never leaves it."""

from service.domain.states import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    RevisionState,
    check_transition,
)

S = RevisionState


def test_the_table_holds_exactly_the_contract_moves() -> None:
    moves = {(a, b) for a, b in TRANSITIONS}
    assert moves == {
        (None, S.PENDING),
        (None, S.SUPERSEDED),
        (None, S.REJECTED),
        (S.PENDING, S.APPROVED),
        (S.PENDING, S.REJECTED),
        (S.PENDING, S.EXPIRED),
        (S.PENDING, S.SUPERSEDED),
        (S.APPROVED, S.RELEASED),
        (S.APPROVED, S.EXPIRED),
        (S.APPROVED, S.SUPERSEDED),
        (S.RELEASED, S.EXPIRED),
        (S.RELEASED, S.SUPERSEDED),
        (S.APPROVED, S.REJECTED),  # revoked by a release owner (schema version 2)
        (S.RELEASED, S.REJECTED),
    }


def test_terminal_states_have_no_way_out() -> None:
    assert frozenset({S.SUPERSEDED, S.EXPIRED, S.REJECTED}) == TERMINAL
    assert not [move for move in TRANSITIONS if move[0] in TERMINAL]


def test_a_move_outside_the_table_is_refused() -> None:
    try:
        check_transition(S.RELEASED, S.PENDING, "packet-ready")
    except IllegalTransition as err:
        assert "released" in str(err)
    else:
        raise AssertionError("released -> pending must be illegal")
