"""What ingest's OpenAPI document (``/schema``) says about its two endpoints.

The handlers read the raw body themselves (the signature covers the exact bytes, so nothing may
parse it first), which leaves Litestar nothing to describe the request with. These declarations
say what the handlers accept and answer, so that clients and the schema fuzzer
(``tests/test_schema_fuzz.py``) see the real contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

from plinth_ingest.request import MAX_URL_LENGTH
from plinth_ingest.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from plinth_ingest.themes import known_themes

_STRING = Schema(type=OpenAPIType.STRING)

def webhook_body(themes: frozenset[str]) -> RequestBody:
    """The webhook's body; ``themes`` are the packaged themes, given as examples: any active
    theme of the store (the dashboard's theme editor) is accepted, so no list is complete."""
    theme = Schema(
        type=OpenAPIType.STRING, pattern="^[a-z0-9][a-z0-9_-]{0,63}$",
        examples=sorted(themes) or None,
        description="an active theme: a packaged one (the examples) or one made in the "
        "dashboard's theme editor; archived and unknown themes are a 422 naming them",
    )  # fmt: skip
    return RequestBody(
        required=True,
        description="One image event from 3JMS. Give 'themes' (a list) or 'theme' (one name).",
        content={
            "application/json": OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.OBJECT,
                    required=["sku", "image_url"],
                    properties={
                        "sku": Schema(
                            type=OpenAPIType.STRING, min_length=1, max_length=128,
                            description="at most 128 characters and 255 bytes of UTF-8; no "
                            "path separators, '..', or control characters",
                        ),
                        "image_url": Schema(
                            type=OpenAPIType.STRING, max_length=MAX_URL_LENGTH,
                            pattern="^https?://[a-z0-9.-]+(:[0-9]{1,5})?/[^ ]*$",
                            description="http or https URL of the photo",
                        ),
                        "img_sha256": Schema(
                            type=OpenAPIType.STRING, pattern="^[0-9a-fA-F]{64}$",
                            description="sha256 of the photo, when 3JMS knows it",
                        ),
                        "themes": Schema(type=OpenAPIType.ARRAY, items=theme, min_items=1),
                        "theme": theme,
                    },
                )
            )
        },
    )


BATCH_BODY = RequestBody(
    required=True,
    description="CSV with the columns sku,image_url,theme (or themes, 'a|b'), optional "
    "img_sha256; as text/csv, or the first file part of a multipart upload.",
    content={"text/csv": OpenAPIMediaType(schema=_STRING)},
)

SIGNATURE_PARAMETERS = [
    Parameter(
        name=TIMESTAMP_HEADER, param_in="header", required=False, schema=_STRING,
        description="unix seconds; signed, and refused outside the tolerance window",
    ),
    Parameter(
        name=SIGNATURE_HEADER, param_in="header", required=False, schema=_STRING,
        description='"sha256=" + hex HMAC-SHA256(secret, timestamp + "." + raw body)',
    ),
]


@dataclass
class WebhookOperation(Operation):
    """The webhook's operation, with the body and signature headers the handler reads."""

    def __post_init__(self) -> None:
        self.request_body = self.request_body or webhook_body(known_themes())
        self.parameters = [*(self.parameters or []), *SIGNATURE_PARAMETERS]


@dataclass
class BatchOperation(Operation):
    """The batch endpoint's operation: a CSV body, signed like the webhook."""

    def __post_init__(self) -> None:
        self.request_body = self.request_body or BATCH_BODY
        self.parameters = [*(self.parameters or []), *SIGNATURE_PARAMETERS]


@dataclass
class JobRefBody:
    job_id: str
    theme: str
    created: bool
    status: str


@dataclass
class DeliveryBody:
    delivery_id: str
    outcome: str
    job_ids: list[str]
    jobs: list[JobRefBody]
    download: str


@dataclass
class ErrorBody:
    """Every refusal: a slug, a reason and, by case, ``delivery_id``, ``problems``,
    ``job_ids``."""

    error: str
    reason: str


@dataclass
class BatchRowBody:
    line: int
    sku: str | None
    theme: str | None
    status: str
    job_ids: list[str]
    errors: list[Any]


@dataclass
class BatchBody:
    batch_id: str
    rows: int
    accepted: int
    duplicate: int
    rejected: int
    failed: int
    results: list[BatchRowBody]


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


def webhook_responses() -> dict[int, ResponseSpec]:
    return {
        202: ResponseSpec(
            data_container=DeliveryBody, generate_examples=False,
            description="accepted: jobs created (with a hash) and the download queued",
        ),
        200: ResponseSpec(
            data_container=DeliveryBody, generate_examples=False,
            description="duplicate: every job exists already; nothing created",
        ),
        400: _error("malformed_json or json_too_deep"),
        401: _error("invalid_signature: missing, wrong, or outside the time window"),
        413: _error("body_too_large"),
        422: _error("invalid_payload, with 'problems' [{field, message}]"),
        503: _error("kafka_unavailable / storage_unavailable (redeliver) or not configured"),
    }


def batch_responses() -> dict[int, ResponseSpec]:
    return {
        202: ResponseSpec(
            data_container=BatchBody, generate_examples=False,
            description="at least one row accepted or duplicate; every row with its outcome",
        ),
        400: _error("invalid_csv: no header, missing columns, too many rows, unreadable"),
        401: _error("invalid_signature"),
        413: _error("body_too_large"),
        422: ResponseSpec(
            data_container=BatchBody, generate_examples=False,
            description="every row was refused; each with its errors",
        ),
    }
