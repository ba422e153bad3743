"""What the CLI commands share: a store session, error exits, the owner's key file."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import typer
from pymongo import AsyncMongoClient

from service.adapters.mongo_store import MongoStore
from service.settings import Settings


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[MongoStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    try:
        yield MongoStore(client[settings.mongodb_database])
    finally:
        await client.close()


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def read_seed(key_file: Path) -> bytes:
    try:
        seed = base64.b64decode(key_file.read_text().strip(), validate=True)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read a base64 Ed25519 seed from {key_file}: {exc}") from exc
    if len(seed) != 32:
        raise fail(f"{key_file} holds {len(seed)} bytes; an Ed25519 seed is 32")
    return seed
