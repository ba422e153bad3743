"""Writes the committed contract artifacts: `python -m service.cli.schemas schemas`."""

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.contract.envelope import EVENT_TYPES, INPUT_TYPES, SCHEMA_VERSION, CloudEvent
from service.contract.version2 import MODELS

ROOT = Path(__file__).parents[2]  # no resolve(): nothing touches the disk at import
SCHEMAS_DIR = ROOT / "schemas"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render(document: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, trailing newline, so diffs stay small."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _schema(
    name: str, body: dict[str, Any], title: str, version: int = SCHEMA_VERSION
) -> dict[str, Any]:
    return {
        "$schema": _DIALECT,
        "$id": f"urn:release-gate:schema:{name}:v{version}",
        **body,
        "title": title,
    }


def json_schemas() -> dict[str, str]:
    """One schema per event type's `data` (inputs as accepted, outputs as emitted) + envelope."""
    files = {
        "cloudevent.schema.json": render(
            _schema("cloudevent", CloudEvent.model_json_schema(), "CloudEvent envelope")
        )
    }
    for (type_, version), model in sorted(MODELS.items()):
        if type_ not in EVENT_TYPES:
            continue
        if type_ in INPUT_TYPES:
            body = model.model_json_schema(mode="validation")
        else:
            body = model.model_json_schema(mode="serialization")
        body["x-cloudevent-type"] = type_
        body["x-direction"] = "in" if type_ in INPUT_TYPES else "out"
        if version != 1:  # version-1 schemas stay byte for byte as published
            body["x-schemaversion"] = version
        name = f"{type_}.schema.json" if version == 1 else f"{type_}.v{version}.schema.json"
        title = f"{type_} data" + ("" if version == 1 else f", schemaversion {version}")
        files[name] = render(_schema(type_, body, title, version))
    return files


# Everything that lands in schemas/; add a generator (e.g. the AsyncAPI document) here and
# both `make schemas` and the drift test pick it up.
def asyncapi() -> dict[str, str]:
    from service.entrypoints.asyncapi import asyncapi_document  # FastStream is only needed here

    return asyncapi_document()


GENERATORS: list[Callable[[], dict[str, str]]] = [json_schemas, asyncapi]


def artifacts() -> dict[str, str]:
    files: dict[str, str] = {}
    for generate in GENERATORS:
        files.update(generate())
    return files


def stale(directory: Path, files: dict[str, str]) -> list[str]:
    """Generated-looking files in the directory that no generator produces any more."""
    return sorted(p.name for p in directory.glob("*.schema.json") if p.name not in files)


def write(directory: Path = SCHEMAS_DIR) -> list[str]:
    """Writes what differs and removes stale schemas; returns the names it changed."""
    files = artifacts()
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, content in sorted(files.items()):
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            changed.append(name)
    for name in stale(directory, files):
        (directory / name).unlink()
        changed.append(name)
    return changed


def main(argv: list[str]) -> int:
    if argv != ["schemas"]:
        print("usage: python -m service.cli.schemas schemas", file=sys.stderr)
        return 2
    changed = write()
    print(
        f"schemas: {len(changed)} file(s) changed" + (f": {', '.join(changed)}" if changed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
