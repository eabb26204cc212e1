"""Indexes for every filter and sort of the dashboard's queries, created idempotently at start-up.

``create_index`` with an existing name and the same keys is a no-op, so every replica may run it.
The shared ``Database.ensure_indexes`` creates the identity index and the basic ones; these are
the extra ones the list, stats, webhook and audit views need.
"""

from __future__ import annotations

from typing import Final

from pymongo import ASCENDING, DESCENDING

from plinth.adapters.mongo import Database

# (collection attribute, index name, keys)
DASHBOARD_INDEXES: Final[list[tuple[str, str, list[tuple[str, int]]]]] = [
    ("jobs_collection", "created", [("created_at", DESCENDING)]),
    ("jobs_collection", "status_created", [("status", ASCENDING), ("created_at", DESCENDING)]),
    ("jobs_collection", "sku_created", [("sku", ASCENDING), ("created_at", DESCENDING)]),
    ("jobs_collection", "theme_created", [("theme", ASCENDING), ("created_at", DESCENDING)]),
    ("jobs_collection", "cost_created", [("cost_usd", ASCENDING), ("created_at", DESCENDING)]),
    ("jobs_collection", "confidence", [("segment_confidence", ASCENDING), ("_id", ASCENDING)]),
    ("jobs_collection", "updated", [("updated_at", DESCENDING)]),
    ("jobs_collection", "completed", [("completed_at", DESCENDING)]),
    # the review queue: held jobs, least confident first (review.py)
    ("jobs_collection", "review_queue",
     [("status", ASCENDING), ("review.confidence", ASCENDING), ("_id", ASCENDING)]),
    ("webhook_events", "received", [("received_at", DESCENDING)]),
    ("webhook_events", "outcome_received", [("outcome", ASCENDING), ("received_at", DESCENDING)]),
    ("workers", "stage", [("stage", ASCENDING)]),
    ("audit", "at", [("at", DESCENDING)]),
    ("audit", "job_at", [("job_id", ASCENDING), ("at", DESCENDING)]),
]


async def ensure_dashboard_indexes(db: Database) -> list[str]:
    """Create the shared indexes and the dashboard's own; return the dashboard's names."""
    await db.ensure_indexes()
    created: list[str] = []
    for attribute, name, keys in DASHBOARD_INDEXES:
        collection = getattr(db, attribute)
        await collection.create_index(keys, name=name)
        created.append(f"{collection.name}.{name}")
    return created
