"""The audit trail: one document per mutation, who did what to which job, and when."""

from __future__ import annotations

import uuid
from typing import Any

from plinth.adapters.mongo import Database
from plinth.domain.job import utcnow
from plinth_dashboard_api.auth import Principal


async def record(
    db: Database,
    principal: Principal,
    action: str,
    *,
    job_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    entry = {
        "_id": uuid.uuid4().hex,
        "at": utcnow(),
        "actor": principal.name,
        "role": principal.role.value,
        "action": action,
        "job_id": job_id,
        "details": details or {},
    }
    await db.audit.insert_one(entry)
    return entry
