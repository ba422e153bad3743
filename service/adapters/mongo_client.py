"""The one way the process and the CLI open MongoDB: timeouts, pool, concerns, retries.

Writes wait for a majority of a replica set (`MONGODB_WRITE_CONCERN`) and reads see what a
majority has (`MONGODB_READ_CONCERN`), so an appended fact survives a primary's step-down;
retryable writes re-send an insert once after a step-down or a network blip, and a repeated
insert of a fact either lands or meets its own duplicate key, which the store treats as the
seq race it already handles (service/adapters/mongo_store.py). FerretDB accepts both
concerns and, with one node, has nothing to wait for.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from service.settings import Settings

Client = AsyncMongoClient[dict[str, Any]]


def open_client(settings: Settings, pool: int | None = None) -> Client:
    return AsyncMongoClient(
        settings.mongodb_url.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        # No store call may hang forever: a dead connection must become an error the retry
        # loop sees, not an await that never returns.
        socketTimeoutMS=30_000,
        connectTimeoutMS=5_000,
        waitQueueTimeoutMS=30_000,
        # FerretDB gives each database 100 SQLite connections; a batch's concurrent lookups
        # queue here instead of exhausting them.
        maxPoolSize=pool or settings.mongodb_max_pool_size,
        w=settings.mongodb_write_concern,
        readConcernLevel=settings.mongodb_read_concern,
        retryWrites=True,
        retryReads=True,
    )
