"""The domain package does no I/O: no drivers, no sockets, no clock."""

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[3] / "service" / "domain"
FORBIDDEN_MODULES = {
    "pymongo",
    "faststream",
    "aiokafka",
    "prometheus_client",
    "socket",
    "os",
    "asyncio",
    "time",
    "random",
    "uuid",
    "subprocess",
    "httpx",
    "io",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "open", "uuid4", "urandom", "generate"}


def test_the_domain_package_imports_nothing_that_does_io() -> None:
    offenders = []
    for path in sorted(DOMAIN.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES
            ]
    assert offenders == []


def test_the_domain_package_never_reads_the_clock_or_opens_files() -> None:
    offenders = []
    for path in sorted(DOMAIN.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in FORBIDDEN_CALLS:
                    offenders.append(f"{path.name}:{node.lineno} {name}()")
    assert offenders == []


def test_the_checker_would_catch_an_offender(tmp_path: Path) -> None:
    sample = "import pymongo\nfrom datetime import datetime\nx = datetime.now()\n"
    tree = ast.parse(sample)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import)]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert imports[0].names[0].name == "pymongo"
    assert isinstance(calls[0].func, ast.Attribute) and calls[0].func.attr == "now"
