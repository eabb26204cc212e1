"""Group commit without a store: concurrent inserts and reads share round trips, and each caller
still learns its own document's fate."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError

from plinth_ingest.batching import BatchWriteFailed, InsertBatcher, ReadBatcher


class Collection:
    def __init__(self, *, fail: Exception | None = None) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.insert_calls: list[int] = []
        self.queries: list[dict[str, Any]] = []
        self.fail = fail

    async def insert_many(self, documents: list[dict[str, Any]], *, ordered: bool) -> None:
        assert ordered is False
        self.insert_calls.append(len(documents))
        await asyncio.sleep(0.01)  # one round trip
        if self.fail is not None:
            raise self.fail
        errors = []
        for index, doc in enumerate(documents):
            if doc["_id"] in self.docs:
                errors.append({"index": index, "code": 11000, "errmsg": "E11000 duplicate key"})
            else:
                self.docs[doc["_id"]] = doc
        if errors:
            raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": []})

    async def update_one(self, filter: dict[str, Any], update: dict[str, Any]) -> None:
        self.docs[filter["_id"]].update(update["$set"])

    def find(self, query: dict[str, Any]) -> Any:
        self.queries.append(query)
        wanted = query["_id"]["$in"] if isinstance(query["_id"], dict) else [query["_id"]]
        docs = [self.docs[i] for i in wanted if i in self.docs]

        async def results() -> Any:
            await asyncio.sleep(0.01)
            for doc in docs:
                yield doc

        return results()


async def test_concurrent_inserts_share_round_trips_and_fail_alone() -> None:
    collection = Collection()
    collection.docs["taken"] = {"_id": "taken"}
    batcher = InsertBatcher(collection)
    ids = [f"d{i}" for i in range(20)] + ["taken"]
    results = await asyncio.gather(
        *(batcher.insert_one({"_id": i}) for i in ids), return_exceptions=True
    )
    assert results[:20] == [None] * 20
    assert isinstance(results[20], DuplicateKeyError)
    # All were queued before the flusher ran: one round trip for the 21.
    assert collection.insert_calls == [21]
    assert set(collection.docs) == {*ids}


async def test_a_failed_round_trip_fails_each_of_its_callers() -> None:
    batcher = InsertBatcher(Collection(fail=ConnectionError("store down")))
    results = await asyncio.gather(
        *(batcher.insert_one({"_id": str(i)}) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, BatchWriteFailed) for r in results)
    assert len({id(r) for r in results}) == 3, "one exception per caller"
    assert "ConnectionError: store down" in str(results[0])
    # The batcher is not stuck: the next insert goes out.
    batcher.collection = Collection()
    await batcher.insert_one({"_id": "later"})


async def test_a_lone_insert_waits_for_nobody() -> None:
    collection = Collection()
    batcher = InsertBatcher(collection)
    await asyncio.wait_for(batcher.insert_one({"_id": "a"}), timeout=1)
    await asyncio.wait_for(batcher.insert_one({"_id": "b"}), timeout=1)
    assert collection.insert_calls == [1, 1]


@pytest.mark.parametrize("waiting", [3, 40])
async def test_reads_by_id_equality_for_few_in_for_many(waiting: int) -> None:
    collection = Collection()
    collection.docs.update({f"j{i}": {"_id": f"j{i}", "n": i} for i in range(50)})
    reader = ReadBatcher(collection, in_from=16)
    first = asyncio.create_task(reader.get("j0"))  # in flight while the others queue
    await asyncio.sleep(0)
    found = await asyncio.gather(*(reader.get(f"j{i}") for i in range(1, waiting)), reader.get("x"))
    assert (await first) == {"_id": "j0", "n": 0}
    assert [doc["n"] for doc in found[:-1] if doc] == list(range(1, waiting))
    assert found[-1] is None
    in_queries = [q for q in collection.queries if isinstance(q["_id"], dict)]
    assert len(in_queries) == (1 if waiting >= 16 else 0)
