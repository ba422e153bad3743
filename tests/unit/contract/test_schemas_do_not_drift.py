"""The committed schemas/ equal what the models generate now (regenerated in memory)."""

import json
from pathlib import Path

from service.cli.schemas import SCHEMAS_DIR, artifacts, stale, write
from tests.support.builders import ROOT

HINT = "schemas/ drifted from the models: run `make schemas` and commit the result"


def test_the_committed_schemas_match_the_models() -> None:
    assert SCHEMAS_DIR.resolve() == ROOT / "schemas"
    files = artifacts()
    drifted = [
        name
        for name, content in sorted(files.items())
        if not (SCHEMAS_DIR / name).exists()
        or (SCHEMAS_DIR / name).read_text(encoding="utf-8") != content
    ]
    assert not drifted, f"{HINT}; differs: {drifted}"
    assert not stale(SCHEMAS_DIR, files), f"{HINT}; stale: {stale(SCHEMAS_DIR, files)}"


def test_there_is_a_schema_for_every_event_type_and_the_envelope() -> None:
    from service.contract.envelope import EVENT_TYPES

    names = set(artifacts())
    assert {f"{t}.schema.json" for t in EVENT_TYPES} | {"cloudevent.schema.json"} <= names


def test_generated_schemas_are_sorted_indented_json_with_a_trailing_newline() -> None:
    documents = {name: c for name, c in artifacts().items() if name.endswith(".json")}
    assert "asyncapi.json" in documents and "cloudevent.schema.json" in documents
    for name, content in documents.items():
        document = json.loads(content)
        expected = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert content == expected, name


def test_writing_is_idempotent_and_removes_stale_schemas(tmp_path: Path) -> None:
    (tmp_path / "retired-type.schema.json").write_text("{}\n")
    (tmp_path / "README.md").write_text("kept\n")
    first = write(tmp_path)
    assert "retired-type.schema.json" in first
    assert write(tmp_path) == []
    assert (tmp_path / "README.md").exists()


def test_no_two_payload_models_share_a_name_so_the_generated_documents_are_stable() -> None:
    """AsyncAPI keys schemas by class name: two models of one name swap places between runs."""
    import importlib
    import inspect
    import pkgutil

    import service.contract as contract
    from service.contract.parts import Payload

    found: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(contract.__path__):
        module = importlib.import_module(f"service.contract.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Payload) and cls.__module__ == module.__name__:
                found.setdefault(name, set()).add(module.__name__)
    assert {n: m for n, m in found.items() if len(m) > 1} == {}
