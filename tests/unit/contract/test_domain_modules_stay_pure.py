"""The contract-owned domain modules import no I/O, framework or clock (DESIGN §5.1)."""

import ast

import pytest

from tests.unit.contract.support import REPO

FORBIDDEN_MODULES = {
    "pymongo",
    "faststream",
    "aiokafka",
    "prometheus_client",
    "socket",
    "os",
    "time",
    "random",
    "uuid",
    "secrets",
    "pathlib",
    "asyncio",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "generate", "urandom", "open"}
MODULES = ["canonical.py", "signing.py", "governance.py"]


@pytest.mark.parametrize("name", MODULES)
def test_a_domain_module_imports_nothing_that_does_io(name: str) -> None:
    tree = ast.parse((REPO / "service" / "domain" / name).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & FORBIDDEN_MODULES


@pytest.mark.parametrize("name", MODULES)
def test_a_domain_module_calls_no_clock_randomness_or_file(name: str) -> None:
    tree = ast.parse((REPO / "service" / "domain" / name).read_text(encoding="utf-8"))
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not called & FORBIDDEN_CALLS


def test_keygen_lives_outside_the_domain() -> None:
    assert (REPO / "service" / "keys.py").exists()
    assert "generate" not in (REPO / "service" / "domain" / "signing.py").read_text()
