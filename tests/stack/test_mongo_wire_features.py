"""The MongoDB features Plinth may use, checked against the running MongoDB-wire server.

deploy/local/README.md lists exactly these; a feature goes into that list only with a
test here. The same tests pass against a real mongod (docker-compose).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.stack


@pytest.fixture
def coll(shared_stack: dict[str, str]) -> Iterator[Collection[dict]]:  # type: ignore[type-arg]
    client: MongoClient[dict] = MongoClient(  # type: ignore[type-arg]
        shared_stack["mongo"], tz_aware=True, serverSelectionTimeoutMS=5000
    )
    db = client[f"stacktest_{uuid.uuid4().hex[:10]}"]
    yield db["items"]
    client.drop_database(db.name)
    client.close()


def _seed(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    coll.insert_many(
        [
            {
                "_id": f"j{i}",
                "sku": f"S{i % 3}",
                "theme": "default" if i % 2 else "studio",
                "n": i,
                "tags": [],
                "meta": {"w": i * 10},
            }
            for i in range(10)
        ]
    )


def test_insert_and_find_with_filters(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    _seed(coll)
    assert coll.find_one({"_id": "j3"})["n"] == 3  # type: ignore[index]
    assert coll.count_documents({"sku": {"$in": ["S0", "S1"]}}) == 7
    assert coll.count_documents({"n": {"$gte": 2, "$lt": 5}}) == 3
    assert coll.count_documents({"theme": {"$ne": "studio"}}) == 5
    assert coll.count_documents({"meta.w": {"$gt": 50}}) == 4  # dot notation
    assert coll.count_documents({"missing": {"$exists": False}}) == 10
    assert coll.count_documents({"$or": [{"n": 1}, {"n": 2}]}) == 2
    assert coll.count_documents({}) == 10
    assert coll.estimated_document_count() == 10


def test_sort_skip_limit_projection(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    _seed(coll)
    page = list(coll.find({}, {"n": 1, "_id": 0}).sort("n", DESCENDING).skip(2).limit(3))
    assert page == [{"n": 7}, {"n": 6}, {"n": 5}]
    by_two = [d["_id"] for d in coll.find().sort([("sku", ASCENDING), ("n", DESCENDING)]).limit(4)]
    assert by_two == ["j9", "j6", "j3", "j0"]


def test_unique_compound_index_refuses_duplicates(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    name = coll.create_index(
        [("sku", ASCENDING), ("img_sha256", ASCENDING), ("theme", ASCENDING)], unique=True
    )
    # Creating the same index again is a no-op, as services do on every start.
    assert (
        coll.create_index(
            [("sku", ASCENDING), ("img_sha256", ASCENDING), ("theme", ASCENDING)], unique=True
        )
        == name
    )
    assert coll.index_information()[name]["unique"] is True
    coll.insert_one({"sku": "A", "img_sha256": "h", "theme": "default"})
    coll.insert_one({"sku": "A", "img_sha256": "h", "theme": "studio"})
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"sku": "A", "img_sha256": "h", "theme": "default"})
    assert coll.count_documents({"sku": "A"}) == 2


def test_update_operators_and_upsert(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    _seed(coll)
    result = coll.update_one(
        {"_id": "j1"},
        {
            "$set": {"status": "DONE"},
            "$inc": {"n": 5},
            "$push": {"tags": "x"},
            "$unset": {"meta": ""},
        },
    )
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert coll.find_one({"_id": "j1"}) == {
        "_id": "j1",
        "sku": "S1",
        "theme": "default",
        "n": 6,
        "tags": ["x"],
        "status": "DONE",
    }
    assert coll.update_many({"sku": "S0"}, {"$set": {"flag": True}}).modified_count == 4
    coll.update_one({"_id": "new"}, {"$set": {"n": 1}}, upsert=True)
    assert coll.find_one({"_id": "new"}) == {"_id": "new", "n": 1}
    assert coll.replace_one({"_id": "new", "n": 1}, {"n": 2}).matched_count == 1
    assert coll.replace_one({"_id": "new", "n": 1}, {"n": 3}).matched_count == 0


def test_find_one_and_update_with_a_condition(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    coll.insert_one({"_id": "job", "status": "NEW", "attempts": 0})
    after = coll.find_one_and_update(
        {"_id": "job", "status": "NEW"},
        {"$set": {"status": "BG_REMOVED"}, "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    assert after == {"_id": "job", "status": "BG_REMOVED", "attempts": 1}
    assert coll.find_one_and_update({"_id": "job", "status": "NEW"}, {"$set": {"x": 1}}) is None


def test_racing_conditional_updates_have_exactly_one_winner(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    # FerretDB 1.x needs deploy/local's write-serialising patch for this (see the README).
    for trial in range(5):
        coll.insert_one({"_id": trial, "status": "NEW", "n": 0})
        barrier = threading.Barrier(6)
        wins: list[bool] = []

        def claim(
            worker: int,
            trial: int = trial,
            barrier: threading.Barrier = barrier,
            wins: list[bool] = wins,
        ) -> None:
            barrier.wait()
            doc = coll.find_one_and_update(
                {"_id": trial, "status": "NEW"},
                {"$set": {"status": "CLAIMED", "by": worker}, "$inc": {"n": 1}},
            )
            wins.append(doc is not None)

        threads = [threading.Thread(target=claim, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(wins) == [False] * 5 + [True]
        assert coll.find_one({"_id": trial})["n"] == 1  # type: ignore[index]


def test_delete(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    _seed(coll)
    assert coll.delete_one({"_id": "j0"}).deleted_count == 1
    assert coll.delete_many({"sku": "S1"}).deleted_count == 3
    assert coll.count_documents({}) == 6


def test_aggregation_basics(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    _seed(coll)
    rows = list(
        coll.aggregate(
            [
                {"$match": {"n": {"$gte": 1}}},
                {"$group": {"_id": "$theme", "count": {"$sum": 1}, "total": {"$sum": "$n"}}},
                {"$sort": {"_id": 1}},
            ]
        )
    )
    assert rows == [
        {"_id": "default", "count": 5, "total": 25},
        {"_id": "studio", "count": 4, "total": 20},
    ]
    counted = list(coll.aggregate([{"$match": {"sku": "S2"}}, {"$count": "c"}]))
    assert counted == [{"c": 3}]
    top = list(coll.aggregate([{"$sort": {"n": -1}}, {"$limit": 2}, {"$project": {"n": 1}}]))
    assert top == [{"_id": "j9", "n": 9}, {"_id": "j8", "n": 8}]
    assert sorted(coll.distinct("sku")) == ["S0", "S1", "S2"]


def test_aggregation_stages_and_group_keys(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    coll.insert_many(
        [
            {"_id": 1, "sku": "A", "theme": "t1", "sizes": [100, 200]},
            {"_id": 2, "sku": "A", "theme": "t2", "sizes": [300]},
            {"_id": 3, "sku": "B", "theme": "t1", "sizes": []},
        ]
    )
    unwound = list(coll.aggregate([{"$unwind": "$sizes"}, {"$sort": {"sizes": 1}}, {"$skip": 1}]))
    assert [(d["_id"], d["sizes"]) for d in unwound] == [(1, 200), (2, 300)]
    added = list(coll.aggregate([{"$match": {"_id": 3}}, {"$addFields": {"seen": True}}]))
    assert added == [{"_id": 3, "sku": "B", "theme": "t1", "sizes": [], "seen": True}]
    total = list(coll.aggregate([{"$group": {"_id": None, "jobs": {"$count": {}}}}]))
    assert total == [{"_id": None, "jobs": 3}]
    by_pair = list(
        coll.aggregate(
            [
                {"$group": {"_id": {"sku": "$sku", "theme": "$theme"}, "n": {"$sum": 1}}},
                {"$sort": {"_id.sku": 1, "_id.theme": 1}},
            ]
        )
    )
    assert [(d["_id"]["sku"], d["_id"]["theme"], d["n"]) for d in by_pair] == [
        ("A", "t1", 1),
        ("A", "t2", 1),
        ("B", "t1", 1),
    ]


def test_datetimes_round_trip_as_utc(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    coll.insert_one({"_id": "t", "at": when})
    assert coll.find_one({"at": {"$lte": when}})["at"] == when  # type: ignore[index]


def _indexed(coll: Collection[dict]) -> list[dict]:  # type: ignore[type-arg]
    """Documents and indexes shaped like the dashboard's: some lack the sorted field, one has an
    ObjectId-looking string, times are dates. The local stack pushes filters, sorts, limits and
    counts on indexed fields down to PostgreSQL; every answer must still be MongoDB's."""
    coll.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
    coll.create_index([("created_at", DESCENDING)])
    coll.create_index([("sku", ASCENDING)])
    coll.create_index([("score", ASCENDING)])
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    docs = [
        {
            "_id": f"j{i:02d}",
            "status": ["DONE", "FAILED", "NEW"][i % 3],
            "sku": f"SKU-{i % 4}.{i}",
            "created_at": t0 + dt.timedelta(minutes=i),
            "score": i / 10,
        }
        for i in range(30)
    ]
    for i in (3, 7):
        del docs[i]["created_at"]  # missing: first ascending, last descending
    docs[5]["score"] = 2  # an int among doubles
    docs.append({"_id": "hex", "status": "0123456789abcdef01234567", "sku": "X"})
    coll.insert_many(docs)
    return docs


def test_indexed_queries_answer_as_mongodb(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    docs = _indexed(coll)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def ids(cursor: object) -> list[str]:
        return [d["_id"] for d in cursor]  # type: ignore[attr-defined]

    by_created = sorted(
        (d for d in docs if d.get("status") == "DONE"),
        key=lambda d: (d.get("created_at", t0 - dt.timedelta(days=1)), d["_id"]),
    )
    newest_done = [d["_id"] for d in reversed(by_created)][:4]
    sort = [("created_at", DESCENDING), ("_id", DESCENDING)]
    assert ids(coll.find({"status": "DONE"}).sort(sort).limit(4)) == newest_done
    assert ids(coll.find({"status": "DONE"}).sort(sort).skip(2).limit(2)) == newest_done[2:4]
    # missing created_at sorts first ascending and last descending
    assert set(ids(coll.find({}).sort("created_at", ASCENDING).limit(3))) == {"j03", "j07", "hex"}
    assert "j03" not in ids(coll.find({}).sort(sort).limit(20))
    assert ids(coll.find({"status": {"$in": ["FAILED", "NEW"]}}).sort("_id", 1).limit(3)) == [
        "j01", "j02", "j04"
    ]
    since = t0 + dt.timedelta(minutes=25)
    assert ids(coll.find({"created_at": {"$gte": since}}).sort("created_at", 1)) == [
        "j25", "j26", "j27", "j28", "j29"
    ]
    assert ids(coll.find({"score": {"$gte": 2, "$lt": 2.2}}).sort("_id", 1)) == ["j05", "j20",
                                                                                "j21"]
    assert ids(coll.find({"sku": {"$regex": "^SKU\\-1\\."}}).sort("_id", 1).limit(3)) == [
        "j01", "j05", "j09"
    ]
    assert ids(coll.find({"sku": {"$regex": "^SKU-1."}}).sort("_id", 1).limit(2)) == ["j01", "j05"]
    # a string that looks like an ObjectId is still a string
    assert ids(coll.find({"status": "0123456789abcdef01234567"})) == ["hex"]


def test_count_command_counts_like_the_documents(coll: Collection[dict]) -> None:  # type: ignore[type-arg]
    docs = _indexed(coll)
    db = coll.database
    for flt in ({}, {"status": "DONE"}, {"status": {"$in": ["DONE", "NEW"]}},
                {"created_at": {"$lt": dt.datetime(2026, 1, 1, 0, 10, tzinfo=dt.UTC)}},
                {"status": "FAILED", "score": {"$gt": 1}}, {"sku": {"$regex": "^SKU-2"}}):
        expected = coll.count_documents(flt)
        assert db.command("count", coll.name, query=flt)["n"] == expected, flt
    assert db.command("count", coll.name, query={})["n"] == len(docs)
