"""``POST /api/ingest/batch``: a CSV of (sku, image_url, theme[, img_sha256]) rows for backfills.

Authentication is the webhook's HMAC signature over the raw request body (same headers, same
secret, same window), so one secret covers both ways in. Every row is judged on its own: good
rows are accepted even when others are bad, and the answer lists each row's result with its line
number. Rows for the same image (sku, image_url, hash) are merged into one request with several
themes, so the image is downloaded once.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plinth_ingest.auth import Authenticator, AuthResult, NotConfigured, SignatureError
from plinth_ingest.deliveries import DeliveryLog, new_delivery_id
from plinth_ingest.intake import Intake, PublishFailed
from plinth_ingest.request import (
    ImageRequest,
    InvalidRequest,
    parse_image_request,
    requested_themes,
)
from plinth_ingest.themes import ThemeSource, as_theme_source
from plinth_ingest.webhook import Reply, error_body

log = logging.getLogger("plinth.ingest.batch")

REQUIRED_COLUMNS = ("sku", "image_url", "theme")
OPTIONAL_COLUMNS = ("img_sha256", "themes")


class CsvRefused(ValueError):
    """The upload as a whole is unusable (no header, wrong columns, not UTF-8, too many rows)."""


@dataclass
class RowResult:
    line: int
    sku: str | None
    theme: str | None
    status: str = "rejected"
    job_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    themes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "sku": self.sku,
            "theme": self.theme,
            "status": self.status,
            "job_ids": self.job_ids,
            "errors": self.errors,
        }


@dataclass
class _Group:
    request: ImageRequest
    rows: list[RowResult]


def read_csv(text: str, *, max_rows: int) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; the header is line 1. Raises :class:`CsvRefused`."""
    # newline="": the csv module splits lines itself (a bare CR is a line end, not an error).
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:  # found by schemathesis: a malformed header was a 500
        raise CsvRefused(f"line {reader.line_num}: {exc}") from exc
    if not fieldnames:
        raise CsvRefused("the CSV is empty: expected a header row sku,image_url,theme")
    columns = [name.strip().lower() for name in fieldnames]
    reader.fieldnames = columns
    missing = [c for c in ("sku", "image_url") if c not in columns]
    if "theme" not in columns and "themes" not in columns:
        missing.append("theme")
    if missing:
        raise CsvRefused(
            f"header is missing {', '.join(missing)}; expected {','.join(REQUIRED_COLUMNS)} "
            f"(optional: {', '.join(OPTIONAL_COLUMNS)}), got {','.join(columns)}"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            if not any((value or "").strip() for key, value in row.items() if key is not None):
                continue  # blank line
            if len(rows) >= max_rows:
                raise CsvRefused(f"more than {max_rows} rows; split the file")
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise CsvRefused(f"line {reader.line_num}: {exc}") from exc
    if not rows:
        raise CsvRefused("the CSV has a header but no rows")
    return rows


def _row_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
    if None in fields:  # more cells than header columns
        raise InvalidRequest([])
    themes = fields.get("themes")
    if isinstance(themes, str) and themes:
        # Several themes in one cell: "default|warm_paper" (commas would split the CSV cell).
        fields["themes"] = [t for t in themes.replace(";", "|").split("|") if t.strip()]
    return fields


def _row_fields_quietly(row: dict[str, Any]) -> dict[str, Any]:
    try:
        return _row_fields(row)
    except InvalidRequest:
        return {}


class BatchReceiver:
    def __init__(
        self,
        *,
        auth: Authenticator,
        intake: Intake,
        deliveries: DeliveryLog,
        known_themes: frozenset[str] | ThemeSource,
        max_themes: int,
        max_rows: int,
    ) -> None:
        self.auth = auth
        self.intake = intake
        self.deliveries = deliveries
        self.themes = as_theme_source(known_themes)
        self.max_themes = max_themes
        self.max_rows = max_rows

    async def authenticate(
        self, headers: Mapping[str, str], body: bytes, batch_id: str
    ) -> AuthResult | Reply:
        """How the upload authenticated, or the refusal to send (already recorded)."""
        try:
            return self.auth.check(headers, body, what=f"batch {batch_id}")
        except NotConfigured as exc:
            status, error, reason = 503, "webhook_not_configured", str(exc)
        except SignatureError as exc:
            status, error, reason = 401, "invalid_signature", str(exc)
        await self.record_refusal(batch_id, status, error, reason, signature_valid=False)
        return Reply(status, error_body(error, reason, batch_id=batch_id))

    async def receive(self, batch_id: str, csv_text: str, *, signature_valid: bool) -> Reply:
        try:
            rows = read_csv(csv_text, max_rows=self.max_rows)
        except CsvRefused as exc:
            await self.record_refusal(batch_id, 400, "invalid_csv", str(exc), signature_valid)
            return Reply(400, error_body("invalid_csv", str(exc), batch_id=batch_id))
        asked: dict[str, None] = {}
        for _, row in rows[:1000]:
            asked.update(dict.fromkeys(requested_themes(_row_fields_quietly(row))))
        try:
            themes = await self.themes.snapshot(list(asked)[:64])
        except Exception as exc:
            log.exception("batch %s: cannot read the themes", batch_id)
            reason = f"cannot read the themes ({type(exc).__name__}: {exc}); send it again later"
            await self.record_refusal(batch_id, 503, "storage_unavailable", reason,
                                      signature_valid)
            return Reply(503, error_body("storage_unavailable", reason, batch_id=batch_id))
        results: list[RowResult] = []
        groups: dict[tuple[str, str, str | None], _Group] = {}
        for line, row in rows:
            result = RowResult(line=line, sku=row.get("sku"), theme=row.get("theme"))
            results.append(result)
            try:
                request = parse_image_request(
                    _row_fields(row), known_themes=themes.active,
                    archived_themes=themes.archived, max_themes=self.max_themes,
                )  # fmt: skip
            except InvalidRequest as exc:
                result.errors = [f"{p.field}: {p.message}" for p in exc.problems] or [
                    "more cells than header columns"
                ]
                await self._record_row_rejection(batch_id, result, row, signature_valid)
                continue
            result.themes = request.themes
            key = (request.sku, request.image_url, request.img_sha256)
            group = groups.get(key)
            if group is None:
                groups[key] = _Group(request, [result])
            else:
                merged = tuple(dict.fromkeys(group.request.themes + request.themes))
                group.request = ImageRequest(
                    request.sku, request.image_url, request.img_sha256, merged
                )
                group.rows.append(result)
        for number, group in enumerate(groups.values(), start=1):
            await self._take(f"{batch_id}-{number}", group, signature_valid, themes.versions)
        return self._reply(batch_id, results)

    async def _take(
        self, delivery_id: str, group: _Group, signature_valid: bool, versions: dict[str, int]
    ) -> None:
        request = group.request
        common: dict[str, Any] = {
            "delivery_id": delivery_id,
            "source": "batch",
            "signature_valid": signature_valid,
            "sku": request.sku,
            "image_url": request.image_url,
            "themes": list(request.themes),
            "lines": [row.line for row in group.rows],
        }
        try:
            outcome = await self.intake.take(
                request, delivery_id=delivery_id, trace_id=None, theme_versions=versions
            )
        except PublishFailed as exc:
            for row in group.rows:
                row.status, row.errors = "failed", [f"{exc}; send the row again"]
            await self._record_quietly(
                **common, job_ids=[j.job_id for j in exc.jobs], outcome="rejected",
                status_code=503, reason=str(exc),
            )  # fmt: skip
            return
        except Exception as exc:
            log.exception("batch delivery %s: storage failure", delivery_id)
            for row in group.rows:
                row.status, row.errors = "failed", [f"storage failure: {exc}; send the row again"]
            return
        by_theme = {ref.theme: ref for ref in outcome.jobs}
        for row in group.rows:
            refs = [by_theme[theme] for theme in row.themes if theme in by_theme]
            row.status = "duplicate" if refs and not any(r.created for r in refs) else "accepted"
            row.job_ids = [ref.job_id for ref in refs]
        await self._record_quietly(
            **common, job_ids=outcome.job_ids, outcome=outcome.outcome,
            status_code=200 if outcome.outcome == "duplicate" else 202,
        )  # fmt: skip

    def _reply(self, batch_id: str, results: list[RowResult]) -> Reply:
        counts = {
            status: sum(1 for r in results if r.status == status)
            for status in ("accepted", "duplicate", "rejected", "failed")
        }
        if counts["accepted"] or counts["duplicate"]:
            status = 202
        elif counts["failed"]:
            status = 503
        else:
            status = 422
        return Reply(
            status,
            {
                "batch_id": batch_id,
                "rows": len(results),
                **counts,
                "results": [r.as_dict() for r in results],
            },
        )

    async def record_refusal(
        self, batch_id: str, status: int, error: str, reason: str, signature_valid: bool
    ) -> None:
        await self._record_quietly(
            delivery_id=batch_id, source="batch", signature_valid=signature_valid,
            outcome="rejected", status_code=status, reason=f"{error}: {reason}",
        )  # fmt: skip

    async def _record_row_rejection(
        self, batch_id: str, result: RowResult, row: dict[str, Any], signature_valid: bool
    ) -> None:
        await self._record_quietly(
            delivery_id=f"{batch_id}-line{result.line}", source="batch",
            signature_valid=signature_valid, outcome="rejected", status_code=422,
            reason="; ".join(result.errors), sku=row.get("sku"), image_url=row.get("image_url"),
            themes=[row["theme"]] if isinstance(row.get("theme"), str) else [], line=result.line,
        )  # fmt: skip

    async def _record_quietly(self, **fields: Any) -> None:
        try:
            await self.deliveries.record(**fields)
        except Exception:
            log.exception("cannot record batch delivery %s", fields.get("delivery_id"))


def new_batch_id() -> str:
    return f"batch-{new_delivery_id()}"
