"""The fake store: its state and knobs, the cost bucket, and the GraphQL entry point."""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute_sync,
    parse,
    validate,
)
from pydantic import SecretStr

from plinth.vendors.shopify.media import is_plinth_media
from plinth_testkit.fakes.shopify.cost import MAX_SINGLE_QUERY_COST, query_cost, returned_objects
from plinth_testkit.fakes.shopify.handler import make_handler
from plinth_testkit.fakes.shopify.resolvers import Root
from plinth_testkit.fakes.shopify.schema import SCHEMA
from plinth_testkit.fakes.shopify.state import (
    MAX_IMAGE_PIXELS,
    FakeMedia,
    FakeProduct,
    FakeVariant,
    ServedOperation,
    StagedTarget,
    inspect_image,
)
from plinth_testkit.fakes.threaded import ThreadedFake

DEFAULT_TOKEN = "shpat_fake_token"
DEFAULT_VERSION = "2026-10"


class Throttled(Exception):
    pass


@dataclass
class FakeShopify(ThreadedFake):
    """The fake's state and knobs; :meth:`start` serves it on ``host:port`` in a thread."""

    thread_name = "fake-shopify"

    access_token: str = DEFAULT_TOKEN
    api_versions: frozenset[str] = frozenset({DEFAULT_VERSION})
    bucket_max: float = 2000.0
    """Standard plan restores 100 points/s (shopify.dev, GraphQL Admin rate limits); the bucket
    holds 20 s of restore, the ratio Shopify has always used."""
    restore_rate: float = 100.0
    polls_to_ready: int = 2
    auto_products: bool = False
    fail_next: int = 0
    """The next N GraphQL requests answer 503 (an outage, for retry tests)."""
    """Look-ups of unknown SKUs create a product for them (the demo's convenience)."""
    served: list[ServedOperation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._products: dict[str, FakeProduct] = {}
        self._variants: dict[str, FakeVariant] = {}
        self._media: dict[str, FakeMedia] = {}
        self._staged: dict[str, StagedTarget] = {}
        self._available = self.bucket_max
        self._refilled_at = time.monotonic()
        self._secret = uuid.uuid4().hex

    # -- lifecycle (start/stop/url come from ThreadedFake) ---------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return make_handler(self)

    @property
    def admin_base_url(self) -> str:
        """What ``PLINTH_SHOPIFY_BASE_URL`` should be to talk to this fake."""
        return f"{self.url}/admin/api"

    def client_settings(self, store_domain: str = "plinth-test.myshopify.com") -> dict[str, Any]:
        """The ``shopify_*`` settings fields that point Plinth's Shopify client at this fake."""
        return {"shopify_store_domain": store_domain,
                "shopify_access_token": SecretStr(self.access_token),
                "shopify_api_version": DEFAULT_VERSION, "shopify_base_url": self.admin_base_url}

    # -- seeding and inspection -----------------------------------------------------------

    def add_product(self, title: str, skus: list[str]) -> FakeProduct:
        with self._lock:
            product = FakeProduct(
                id=self._gid("Product"),
                title=title,
                handle=re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product",
            )
            self._products[product.id] = product
            for sku in skus:
                variant = FakeVariant(self._gid("ProductVariant"), sku, "Default Title", product.id)
                self._variants[variant.id] = variant
                product.variant_ids.append(variant.id)
            return product

    def product_for_sku(self, sku: str) -> FakeProduct | None:
        with self._lock:
            for variant in self._variants.values():
                if variant.sku == sku:
                    return self._products[variant.product_id]
        return None

    def add_ready_media(self, sku: str, alt: str | None = None) -> FakeMedia:
        """Seed a processed image on the SKU's product (a merchant's own, in tests)."""
        with self._lock:
            product = self.product_for_sku(sku)
            if product is None:
                raise KeyError(sku)
            media = FakeMedia(id=self._gid("MediaImage"), product_id=product.id, alt=alt)
            media.status, media.width, media.height = "READY", 64, 48
            self._media[media.id] = media
            product.media_ids.append(media.id)
            return media

    def variant_for_sku(self, sku: str) -> FakeVariant | None:
        with self._lock:
            return next((v for v in self._variants.values() if v.sku == sku), None)

    def variant_media(self, sku: str) -> list[FakeMedia]:
        """The media the SKU's variant shows (its image)."""
        with self._lock:
            variant = self.variant_for_sku(sku)
            return [] if variant is None else [self._media[m] for m in variant.media_ids]

    def media_for(self, sku: str, theme: str | None = None) -> list[FakeMedia]:
        """The media on the SKU's product; with ``theme``, only Plinth's for (sku, theme)."""
        with self._lock:
            product = self.product_for_sku(sku)
            if product is None:
                return []
            media = [self._media[m] for m in product.media_ids]
        if theme is None:
            return media
        return [m for m in media if is_plinth_media(m.alt, sku, theme)]

    def take_failure(self) -> bool:
        """True (and one fewer to go) while ``fail_next`` injected outages remain."""
        with self._lock:
            if self.fail_next <= 0:
                return False
            self.fail_next -= 1
            return True

    def throttled_count(self) -> int:
        with self._lock:
            return sum(1 for s in self.served if s.throttled)

    def drain_bucket(self, leave: float = 0.0) -> None:
        """Spend the bucket down to ``leave`` points (another app on the store, in tests)."""
        with self._lock:
            self._available = leave
            self._refilled_at = time.monotonic()

    # -- GraphQL --------------------------------------------------------------------------

    def graphql(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return {"errors": [{"message": "Parameter 'query' is required and must be a string"}]}
        variables = payload.get("variables") or {}
        operation_name = payload.get("operationName")
        if not isinstance(variables, dict) or not (
            operation_name is None or isinstance(operation_name, str)
        ):
            return {"errors": [{"message": "variables must be an object"}]}
        try:
            document = parse(payload["query"])
        except GraphQLError as exc:
            return {"errors": [shopify_error(exc)]}
        problems = validate(SCHEMA, document)
        if problems:
            return {"errors": [shopify_error(e) for e in problems]}
        operation = select_operation(document, operation_name)
        if operation is None:
            return {"errors": [{"message": "An operation name is required"}]}
        cost = query_cost(SCHEMA, document, operation, variables)
        roots = tuple(
            s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)
        )
        if cost > MAX_SINGLE_QUERY_COST:
            return {
                "errors": [
                    {
                        "message": f"Query cost is {cost}, which exceeds the single query max "
                        f"cost limit ({MAX_SINGLE_QUERY_COST}).",
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost},
                    }
                ],
                "extensions": {"cost": self._cost(cost, None)},
            }
        with self._lock:
            try:
                self._reserve(cost)
            except Throttled:
                self.served.append(ServedOperation(operation_name, roots, cost, True, True))
                return {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": {"cost": self._cost(cost, None)},
                }
            result = execute_sync(
                SCHEMA,
                document,
                root_value=Root(self),
                variable_values=variables,
                operation_name=operation_name,
            )
            errors = [shopify_error(e) for e in result.errors or []]
            self.served.append(ServedOperation(operation_name, roots, cost, False, bool(errors)))
            actual = (
                cost
                if operation.operation is OperationType.MUTATION
                else min(cost, returned_objects(result.data))
            )
            self._available = min(self.bucket_max, self._available + cost - actual)  # refund
            # No "data" key when execution never started (variables that do not coerce).
            body: dict[str, Any] = {} if result.data is None and errors else {"data": result.data}
            if errors:
                body["errors"] = errors
            body["extensions"] = {"cost": self._cost(cost, actual)}
            return body

    def _refill(self) -> None:
        now = time.monotonic()
        self._available = min(
            self.bucket_max, self._available + (now - self._refilled_at) * self.restore_rate
        )
        self._refilled_at = now

    def _reserve(self, cost: int) -> None:
        """Take the requested cost up front; the unused part is refunded after execution."""
        self._refill()
        if cost > self._available:
            raise Throttled
        self._available -= cost

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        with self._lock:
            self._refill()
            return {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": float(self.bucket_max),
                    "currentlyAvailable": int(self._available),
                    "restoreRate": float(self.restore_rate),
                },
            }

    # -- resolvers' helpers (called with the lock held) ------------------------------------

    def _gid(self, kind: str) -> str:
        return f"gid://shopify/{kind}/{next(self._ids)}"

    def _find_variants(self, query: str | None) -> list[FakeVariant]:
        variants = list(self._variants.values())
        if not query:
            return variants
        match = re.fullmatch(r'\s*sku:(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*', query)
        if match is None:
            return []  # the fake understands only the sku: filter Plinth uses
        sku = re.sub(r"\\(.)", r"\1", match.group(1)) if match.group(1) is not None else None
        sku = sku if sku is not None else match.group(2)
        found = [v for v in variants if v.sku == sku]
        if not found and self.auto_products:
            product = self.add_product(f"Product {sku}", [sku])
            found = [self._variants[product.variant_ids[0]]]
        return found

    def _stage(self, item: dict[str, Any]) -> dict[str, Any]:
        key = f"tmp/{uuid.uuid4().hex}/{item['filename']}"
        method = str(item.get("httpMethod") or "PUT")
        signature = hashlib.sha256(f"{self._secret}:{key}".encode()).hexdigest()
        self._staged[key] = StagedTarget(key, item["filename"], item["mimeType"], method, signature)
        if method == "POST":
            params = [
                ("Content-Type", item["mimeType"]),
                ("success_action_status", "201"),
                ("acl", "private"),
                ("key", key),
                ("x-goog-signature", signature),
            ]
            url = f"{self.url}/_staged"
        else:
            params = [("content_type", item["mimeType"]), ("acl", "private")]
            url = f"{self.url}/_staged/{key}?signature={signature}"
        return {
            "url": url,
            "resourceUrl": f"{self.url}/_staged/{key}",
            "parameters": [{"name": n, "value": v} for n, v in params],
        }

    def _create_media(self, product: FakeProduct, item: dict[str, Any]) -> FakeMedia:
        media = FakeMedia(id=self._gid("MediaImage"), product_id=product.id, alt=item.get("alt"))
        data, failure = self._fetch_source(str(item["originalSource"]))
        if data is not None:
            failure, media.width, media.height = inspect_image(data)
        if failure is not None:
            media.final_status = "FAILED"
            media.errors = [{"code": failure[0], "message": failure[1], "details": None}]
        self._media[media.id] = media
        product.media_ids.append(media.id)
        return media

    def _fetch_source(self, source: str) -> tuple[bytes | None, tuple[str, str] | None]:
        prefix = f"{self.url}/_staged/"
        if source.startswith(prefix):
            staged = self._staged.get(source[len(prefix) :])
            if staged is None or staged.data is None:
                return None, ("IMAGE_DOWNLOAD_FAILURE", "Staged file was never uploaded")
            return staged.data, None
        try:
            with urllib.request.urlopen(source, timeout=10) as response:
                data: bytes = response.read(MAX_IMAGE_PIXELS * 4)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return None, ("IMAGE_DOWNLOAD_FAILURE", f"Could not download image: {exc}")
        return data, None

    def _advance(self, media: FakeMedia) -> None:
        """A status poll: UPLOADED -> PROCESSING -> ... -> READY/FAILED."""
        if media.status in ("READY", "FAILED"):
            return
        media.polls += 1
        media.status = "PROCESSING" if media.polls < self.polls_to_ready else media.final_status

    def _delete_file(self, file_id: str) -> bool:
        media = self._media.pop(file_id, None)
        if media is None:
            return False
        product = self._products.get(media.product_id)
        if product is not None and file_id in product.media_ids:
            product.media_ids.remove(file_id)
        for variant in self._variants.values():  # deleting a file clears it from variants
            if file_id in variant.media_ids:
                variant.media_ids.remove(file_id)
        return True

    def _receive_upload(self, key: str, data: bytes, mime_type: str | None) -> str | None:
        """Store a staged upload; returns an error message or None."""
        with self._lock:
            target = self._staged.get(key)
            if target is None:
                return "unknown upload key"
            if mime_type is not None and mime_type != target.mime_type:
                return f"Content-Type {mime_type!r} does not match the staged {target.mime_type!r}"
            target.data = data
        return None

    def _check_signature(self, key: str, signature: str | None, method: str) -> bool:
        with self._lock:
            target = self._staged.get(key)
            return target is not None and target.method == method and signature == target.signature


def select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


_UNDEFINED_FIELD = re.compile(r"^Cannot query field '(\w+)' on type '(\w+)'\.")


def shopify_error(error: GraphQLError) -> dict[str, Any]:
    """graphql-core's error in the shape (and, for unknown fields, the wording) Shopify uses."""
    formatted: dict[str, Any] = dict(error.formatted)
    match = _UNDEFINED_FIELD.match(error.message)
    if match:
        field_name, type_name = match.groups()
        formatted["message"] = f"Field '{field_name}' doesn't exist on type '{type_name}'"
        formatted["extensions"] = {
            "code": "undefinedField",
            "typeName": type_name,
            "fieldName": field_name,
        }
    return formatted
