"""What the CLI commands share: a store session, error exits, the owner's key file."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from service.adapters.mongo_client import open_client
from service.adapters.mongo_store import MongoStore
from service.settings import Settings, SettingsRefused, load_settings


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[MongoStore]:
    client = open_client(settings, pool=4)
    try:
        yield MongoStore(client[settings.mongodb_database])
    finally:
        await client.close()


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def read_seed(key_file: Path) -> bytes:
    """The raw Ed25519 seed from a key file: PKCS#8 PEM (what keygen writes for browsers and
    the CLI alike) or the base64 of the 32-byte seed."""
    try:
        text = key_file.read_text()
    except OSError as exc:
        raise fail(f"cannot read {key_file}: {exc.strerror}") from exc
    if "BEGIN PRIVATE KEY" in text:
        return seed_of_pem(text.encode(), key_file)
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise fail(f"{key_file} holds neither a PKCS#8 PEM key nor a base64 seed") from exc
    if len(seed) != 32:
        raise fail(f"{key_file} holds {len(seed)} bytes; an Ed25519 seed is 32")
    return seed


def seed_of_pem(pem: bytes, key_file: Path) -> bytes:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise fail(f"{key_file}: not an unencrypted PKCS#8 private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise fail(f"{key_file}: not an Ed25519 key")
    return key.private_bytes_raw()


def settings_from_env() -> Settings:
    """The settings from the environment, or a message and exit 2 naming what is wrong
    (a misspelt or invalid setting never starts anything; no secret is printed)."""
    try:
        return load_settings()
    except SettingsRefused as refused:
        raise fail(str(refused)) from refused
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors()
        )
        raise fail(f"invalid settings: {problems}") from invalid
