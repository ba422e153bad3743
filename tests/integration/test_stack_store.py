"""The local store (FerretDB or MongoDB) does what the fact log relies on, through PyMongo async.

The fact log decides races with the unique `_id` alone (docs/design.md), and its batches read the
per-document errors of an unordered insert_many (docs/design.md); both are checked here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

Doc = dict[str, Any]
DUPLICATE_KEY = 11000


async def test_inserted_documents_are_found_through_an_index(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.insert_many(
        [
            {"_id": f"RP-{p}@r1/{s}", "packet_id": f"RP-{p}", "seq": s}
            for p in (1, 2)
            for s in (2, 0, 1)
        ]
    )
    name = await collection.create_index([("packet_id", ASCENDING), ("seq", ASCENDING)])
    assert name in [index["name"] async for index in await collection.list_indexes()]

    found = await collection.find({"packet_id": "RP-2"}).sort("seq", ASCENDING).to_list()
    assert [doc["_id"] for doc in found] == ["RP-2@r1/0", "RP-2@r1/1", "RP-2@r1/2"]


async def test_a_second_insert_of_the_same_id_raises_duplicate_key_error(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.insert_one({"_id": "RP-1@r1/0", "fact": "created"})
    with pytest.raises(DuplicateKeyError) as raised:
        await collection.insert_one({"_id": "RP-1@r1/0", "fact": "approved"})
    assert raised.value.code == DUPLICATE_KEY
    assert await collection.find_one({"_id": "RP-1@r1/0"}) == {
        "_id": "RP-1@r1/0",
        "fact": "created",
    }


async def test_a_unique_index_rejects_a_second_document_with_the_same_key(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.create_index([("packet_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    await collection.insert_one({"_id": "a", "packet_id": "RP-1", "seq": 0})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "b", "packet_id": "RP-1", "seq": 0})


async def test_an_unordered_insert_many_names_exactly_the_documents_that_lost(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.insert_one({"_id": "taken", "winner": "earlier writer"})
    batch: list[Doc] = [
        {"_id": "new-1"},
        {"_id": "taken", "winner": "this batch"},  # lost to an earlier insert
        {"_id": "new-2"},
        {"_id": "new-1", "again": True},  # lost inside the batch itself
        {"_id": "new-3"},
    ]
    with pytest.raises(BulkWriteError) as raised:
        await collection.insert_many(batch, ordered=False)

    details = raised.value.details
    failed = sorted((e["index"], e["code"]) for e in details["writeErrors"])
    assert failed == [(1, DUPLICATE_KEY), (3, DUPLICATE_KEY)]
    assert details["nInserted"] == 3
    # Unordered: the documents after a failure were still written; the winner is untouched.
    ids = sorted([doc["_id"] async for doc in collection.find({}, {"_id": 1})])
    assert ids == ["new-1", "new-2", "new-3", "taken"]
    assert (await collection.find_one({"_id": "taken"}) or {})["winner"] == "earlier writer"
