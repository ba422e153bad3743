"""The packages are layers: each imports only its own layer and the ones below, never in a circle.

The order, lowest first, is the one docs/architecture.md draws.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.imports import find_cycle, internal_graph

LAYERS: tuple[tuple[str, ...], ...] = (
    ("service.domain",),
    ("service.contract", "service.settings"),
    ("service.telemetry",),
    ("service.adapters",),
    ("service.gate",),
    ("service.handlers",),
    ("service.console",),
    ("service.entrypoints",),
    ("service.cli",),
    ("service.__main__",),
)


def layer_of(module: str) -> int:
    for rank, roots in enumerate(LAYERS):
        if any(module == r or module.startswith(r + ".") for r in roots):
            return rank
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{source} -> {target}"
        for source, targets in graph.items()
        if source != "service"
        for target in targets
        if target != "service" and layer_of(target) > layer_of(source)
    )


def test_every_service_module_sits_in_a_layer() -> None:
    graph = internal_graph()
    assert len(graph) > 50
    assert all(layer_of(m) >= 0 for m in graph if m != "service")


def test_no_module_imports_from_a_higher_layer() -> None:
    assert upward_imports(internal_graph()) == []


def test_the_import_graph_has_no_cycle() -> None:
    assert find_cycle(internal_graph()) is None


def test_the_layer_check_catches_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    for package in ("domain", "gate"):
        (tmp_path / "service" / package).mkdir(parents=True)
        (tmp_path / "service" / package / "__init__.py").write_text("")
    (tmp_path / "service" / "__init__.py").write_text("")
    (tmp_path / "service" / "domain" / "rules.py").write_text("from service.gate import gate\n")
    (tmp_path / "service" / "gate" / "gate.py").write_text("import service.domain.rules\n")
    graph = internal_graph(tmp_path)
    assert upward_imports(graph) == [
        "service.domain.rules -> service.gate",
        "service.domain.rules -> service.gate.gate",
    ]
    rules, gate = "service.domain.rules", "service.gate.gate"
    assert find_cycle(graph) == [rules, gate, rules]
