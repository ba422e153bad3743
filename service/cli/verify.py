"""`verify-manifest`: check a release manifest's attestation offline, with the gate's public
key only (no Kafka, no store). Exit 0: verified; 1: a check failed (each is named); 2: the
file or the key could not be read (service/adapters/attestation.py does the checking)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from service.adapters.attestation import MANIFEST_TYPE, Verification, verify_manifest
from service.adapters.gate_key import GateKeyError, public_key_from_file

VERIFIED, FAILED, UNREADABLE = 0, 1, 2


class Unreadable(ValueError):
    """The manifest file cannot be used; the message says why."""


def manifest_data(document: Any) -> dict[str, Any]:
    """The manifest's data from a release-manifest CloudEvent, or the data object itself."""
    if not isinstance(document, dict):
        raise Unreadable("expected a JSON object: a release-manifest CloudEvent or its data")
    if "specversion" not in document:
        return document
    if document.get("type") != MANIFEST_TYPE:
        raise Unreadable(f"a {document.get('type')!r} event, not a {MANIFEST_TYPE} one")
    data = document.get("data")
    if not isinstance(data, dict):
        raise Unreadable("the event's data is not a JSON object")
    return data


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise Unreadable(f"{path} is not JSON") from None
    return manifest_data(document)


def report(result: Verification) -> int:
    if result.ok:
        typer.echo(f"verified: release manifest {result.manifest_id}")
        for line in result.passed:
            typer.echo(f"  ok  {line}")
        return VERIFIED
    typer.echo(f"NOT verified: release manifest {result.manifest_id}", err=True)
    for line in result.problems:
        typer.echo(f"  FAILED  {line}", err=True)
    return FAILED


def verify_files(manifest_file: Path, key_file: Path) -> int:
    try:
        data = read_manifest(manifest_file)
        public = public_key_from_file(key_file)
    except (Unreadable, GateKeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return UNREADABLE
    return report(verify_manifest(data, public))
