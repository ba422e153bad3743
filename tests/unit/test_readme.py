"""The README's lifecycle table is the code's table (the same table in both)."""

from pathlib import Path

from service.domain.states import TRANSITIONS

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_table() -> dict[tuple[str | None, str], frozenset[str]]:
    text = README.read_text()
    body = text.split("<!-- transitions-table:start -->")[1].split(
        "<!-- transitions-table:end -->"
    )[0]
    rows = [line for line in body.splitlines() if line.startswith("|")][2:]
    table = {}
    for row in rows:
        from_state, to_state, reasons = (cell.strip() for cell in row.strip("|").split("|"))
        key = (None if from_state == "—" else from_state, to_state)
        table[key] = frozenset(r.strip() for r in reasons.split(","))
    return table


def test_the_readme_lifecycle_table_equals_the_transitions_table() -> None:
    code = {
        (None if a is None else a.value, b.value): reasons
        for (a, b), reasons in TRANSITIONS.items()
    }
    assert readme_table() == code
