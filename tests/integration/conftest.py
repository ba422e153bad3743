"""Fixtures for tests against the real local stack: Kafka and a MongoDB-wire store.

Addresses come from KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL (`ops/stack/stack.sh run` sets
both). A stack that does not answer fails these tests; it never skips them. Every run gets
its own topic and database names, so runs and developers sharing one stack do not collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeAlias

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from tests.support import kafka

STACK_HINT = "start it with `ops/stack/stack.sh up`, or run `ops/stack/stack.sh run -- <cmd>`"
REACH_TIMEOUT_S = 10
STACK_FIXTURES = {"kafka_bootstrap", "mongo_client"}

Doc: TypeAlias = dict[str, Any]
TopicFactory: TypeAlias = Callable[[int], Awaitable[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here that needs the stack, so `-m "not stack"` can leave them out."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
async def kafka_bootstrap() -> str:
    """The bootstrap address, once a metadata request has succeeded."""
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    error = None
    try:
        await kafka.check_reachable(servers, request_timeout_ms=5000, within=REACH_TIMEOUT_S)
    except Exception as exc:
        error = exc
    if error is not None:  # outside `except`: one clear line, no chained traceback
        pytest.fail(f"Kafka at {servers} does not answer ({error!r}); {STACK_HINT}", pytrace=False)
    return servers


@pytest.fixture(scope="session")
async def kafka_admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    async with kafka.admin(kafka_bootstrap) as admin:
        yield admin


@pytest.fixture
async def new_topic(kafka_admin: AIOKafkaAdminClient, run_id: str) -> AsyncIterator[TopicFactory]:
    """Creates uniquely named topics (`await new_topic(partitions)`); deletes them after."""
    created: list[str] = []

    async def create(partitions: int) -> str:
        name = f"it-{run_id}-{len(created)}-{uuid.uuid4().hex[:6]}"
        await kafka_admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)], timeout_ms=10_000
        )
        created.append(name)
        return name

    yield create
    if created:
        await kafka_admin.delete_topics(created, timeout_ms=10_000)


@pytest.fixture(scope="session")
async def mongo_client() -> AsyncIterator[AsyncMongoClient[Doc]]:
    """A PyMongo async client, once the store has answered a ping."""
    url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=REACH_TIMEOUT_S * 1000
    )
    error = None
    try:
        await client.admin.command("ping")
    except PyMongoError as exc:
        error = exc
    if error is not None:
        await client.close()
        pytest.fail(f"the store at {url} does not answer ({error}); {STACK_HINT}", pytrace=False)
    yield client
    await client.close()


@pytest.fixture(scope="session")
async def mongo_db(
    mongo_client: AsyncMongoClient[Doc], run_id: str
) -> AsyncIterator[AsyncDatabase[Doc]]:
    """A database of this run only, dropped at the end."""
    name = f"it_{run_id}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


@pytest.fixture
def collection(
    mongo_db: AsyncDatabase[Doc], request: pytest.FixtureRequest
) -> AsyncCollection[Doc]:
    """A fresh collection per test, named after it."""
    return mongo_db[f"{request.node.name[:40]}_{uuid.uuid4().hex[:6]}"]
