"""The domain is a pure core: standard library, pure computation libraries and itself only.

No driver, no wire layer (pydantic, service.contract), no sockets, files or clock.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.support.imports import SERVICE, imported_names

DOMAIN = SERVICE / "domain"
PURE_LIBRARIES = {"rfc8785", "cryptography", "isodate", "yaml"}
IO_STDLIB = {"socket", "os", "asyncio", "time", "random", "uuid", "subprocess", "io", "shutil"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "open", "uuid4", "urandom", "generate"}


def impure_imports(source: str, name: str) -> list[str]:
    offenders = []
    for line, module in imported_names(source, "service.domain"):
        top = module.split(".")[0]
        if module.startswith("service.domain") or module == "__future__":
            continue
        outside = top not in sys.stdlib_module_names and top not in PURE_LIBRARIES
        if top == "service" or top in IO_STDLIB or outside:
            offenders.append(f"{name}:{line} {module}")
    return sorted(set(offenders))


def clock_or_file_calls(source: str, name: str) -> list[str]:
    offenders = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in FORBIDDEN_CALLS:
                offenders.append(f"{name}:{node.lineno} {called}()")
    return offenders


def domain_files() -> list[Path]:
    files = sorted(DOMAIN.glob("*.py"))
    assert len(files) > 10
    return files


def test_the_domain_imports_only_the_standard_library_pure_libraries_and_itself() -> None:
    offenders = [o for p in domain_files() for o in impure_imports(p.read_text(), p.name)]
    assert offenders == []


def test_the_domain_never_reads_the_clock_or_opens_files() -> None:
    offenders = [o for p in domain_files() for o in clock_or_file_calls(p.read_text(), p.name)]
    assert offenders == []


def test_the_purity_check_names_a_driver_the_wire_layer_pydantic_and_the_clock() -> None:
    sample = (
        "import pymongo\n"
        "from pydantic import BaseModel\n"
        "from service.contract.times import format_time\n"
        "from service.domain.facts import Fact\n"
        "import hashlib, rfc8785\n"
        "from datetime import datetime\n"
        "x = datetime.now()\n"
    )
    assert impure_imports(sample, "s.py") == [
        "s.py:1 pymongo",
        "s.py:2 pydantic",
        "s.py:2 pydantic.BaseModel",
        "s.py:3 service.contract.times",
        "s.py:3 service.contract.times.format_time",
    ]
    assert clock_or_file_calls(sample, "s.py") == ["s.py:7 now()"]
