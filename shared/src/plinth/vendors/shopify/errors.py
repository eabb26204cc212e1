"""Typed Shopify errors, split into permanent (retrying cannot help) and transient ones.

Every error carries a short machine ``code`` that the publish service stores on a FAILED job,
and ``transient`` so that a worker knows whether to retry with backoff or fail the job now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ShopifyError(Exception):
    code: str = "shopify_error"
    transient: bool = False


class ShopifyPermanentError(ShopifyError):
    """The same request would fail again: bad credentials, unknown SKU, a rejected image."""


class ShopifyTransientError(ShopifyError):
    """Worth retrying later: throttling that outlasted our patience, 5xx, network, slow media."""

    transient = True


class ShopifyAuthError(ShopifyPermanentError):
    code = "shopify_auth"


class ShopifyEndpointNotFound(ShopifyPermanentError):
    """404 from the endpoint: a wrong store domain or an API version Shopify no longer serves."""

    code = "shopify_endpoint_not_found"


class ShopifyQueryError(ShopifyPermanentError):
    """Shopify refused the GraphQL document itself (a field or argument it does not know)."""

    code = "shopify_graphql_error"


@dataclass(frozen=True)
class FieldError:
    field: tuple[str, ...]
    message: str
    code: str | None = None

    def __str__(self) -> str:
        where = ".".join(self.field) if self.field else "-"
        return f"{where}: {self.message}" + (f" ({self.code})" if self.code else "")


class ShopifyUserError(ShopifyPermanentError):
    """A mutation answered with ``userErrors``: Shopify understood us and said no."""

    code = "shopify_user_error"

    def __init__(self, operation: str, errors: Sequence[FieldError]) -> None:
        self.operation = operation
        self.errors = tuple(errors)
        super().__init__(f"{operation}: " + "; ".join(str(e) for e in self.errors))


class SkuNotFound(ShopifyPermanentError):
    code = "shopify_sku_not_found"

    def __init__(self, sku: str) -> None:
        self.sku = sku
        super().__init__(f"no product variant with SKU {sku!r} in the store")


class MediaFailed(ShopifyPermanentError):
    """Shopify could not process the uploaded image (status FAILED)."""

    code = "shopify_media_failed"

    def __init__(self, media_id: str, reasons: Sequence[str]) -> None:
        self.media_id = media_id
        self.reasons = tuple(reasons)
        super().__init__(f"media {media_id} FAILED: {'; '.join(reasons) or 'no reason given'}")


class MediaVanished(MediaFailed):
    """The media was deleted while Shopify was still processing it."""

    def __init__(self, media_id: str) -> None:
        super().__init__(media_id, ["media disappeared while processing"])


class StagedUploadRejected(ShopifyPermanentError):
    code = "shopify_staged_upload_rejected"


class ShopifyThrottled(ShopifyTransientError):
    """Still throttled after the bounded number of cost-based waits."""

    code = "shopify_throttled"


class ShopifyUnavailable(ShopifyTransientError):
    """5xx, a timeout or a network error talking to Shopify or its upload target."""

    code = "shopify_unavailable"


class MediaNotReady(ShopifyTransientError):
    code = "shopify_media_timeout"

    def __init__(self, media_ids: Sequence[str], timeout_s: float) -> None:
        self.media_ids = tuple(media_ids)
        super().__init__(f"media {', '.join(media_ids)} not READY after {timeout_s:.0f}s")
