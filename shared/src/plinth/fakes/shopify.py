"""A fake Shopify Admin GraphQL API (plus its staged-upload target), over real HTTP on 127.0.0.1.

It follows the contract request by request:

``POST /admin/api/{version}/graphql.json``
    needs ``X-Shopify-Access-Token`` (else 401 ``{"errors": "[API] Invalid API key or access
    token ..."}`` like Shopify), a served ``{version}`` (else 404), a JSON body with ``query``.
    The document is parsed and validated with graphql-core against :data:`SCHEMA_SDL`, a subset
    of the Admin schema written from the 2026-10 reference (field, argument, input and enum
    names as Shopify spells them), so an unknown field, argument, operation or variable type is
    refused with a GraphQL error, as Shopify would. Supported: ``productVariants``, ``product``,
    ``node``/``nodes``, ``stagedUploadsCreate``, ``productUpdate(product:, media:)`` and
    ``fileDelete``.
Cost and throttling
    Each query is costed the way Shopify documents it (scalar and enum 0, object 1, connection
    2 + ``first``/``last`` × the per-item cost, mutation 10; a single query over 1000 is refused
    with ``MAX_COST_EXCEEDED``). The requested cost must fit in a leaky bucket (``bucket_max``
    points, refilled at ``restore_rate`` points/s); afterwards the bucket is refunded down to the
    actual cost (the objects returned; mutations 10), as Shopify does. Every answer carries
    ``extensions.cost`` with ``throttleStatus``; when the bucket cannot pay, the answer is
    ``{"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}`` and nothing
    runs.
Media
    ``productUpdate`` media must come from a staged upload of this fake (or an http(s) URL it can
    fetch). A new media is ``UPLOADED``; each ``nodes``/``node`` status poll moves it on, and
    after ``polls_to_ready`` polls it is ``READY``, or ``FAILED`` with ``mediaErrors`` when the
    bytes are not a JPEG/PNG/GIF/WebP image of at most 20 megapixels.
``POST /_staged`` (multipart, the fields ``stagedUploadsCreate`` returned, then ``file``) and
``PUT /_staged/{key}``
    the staged-upload target (Google Cloud Storage in real life); answers 201/200.
Inspection (tests, the demo): ``GET /_fake/media?sku=&theme=`` lists a SKU's product media (with
``theme``: only Plinth's for that (SKU, theme)), ``POST /_fake/products`` seeds
``{"sku", "title"}``, ``GET /_fake/requests`` lists the GraphQL operations served.

Run standalone: ``python -m plinth.fakes.shopify --port 8091 --token dev-token --product
SKU-1="Blue Mug"`` (``--auto-products`` creates a product for any SKU that is looked up).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    build_schema,
    execute_sync,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
)
from PIL import Image, UnidentifiedImageError

from plinth.shopify.media import is_plinth_media

DEFAULT_TOKEN = "shpat_fake_token"
DEFAULT_VERSION = "2026-10"
MAX_SINGLE_QUERY_COST = 1000
MUTATION_COST = 10
MAX_IMAGE_PIXELS = 20_000_000
ACCEPTED_IMAGE_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP"})
INVALID_TOKEN_MESSAGE = (
    "[API] Invalid API key or access token (unrecognized login or wrong password)"
)

SCHEMA_SDL = """
schema { query: QueryRoot mutation: Mutation }

scalar URL
scalar UnsignedInt64

interface Node { id: ID! }

enum MediaStatus { UPLOADED PROCESSING READY FAILED }
enum MediaContentType { EXTERNAL_VIDEO IMAGE MODEL_3D VIDEO }
enum MediaErrorCode {
  UNKNOWN INVALID_SIGNED_URL IMAGE_DOWNLOAD_FAILURE IMAGE_PROCESSING_FAILURE
  MEDIA_TIMEOUT_ERROR UNSUPPORTED_IMAGE_FILE_TYPE INVALID_IMAGE_FILE_SIZE
}
enum MediaPreviewImageStatus { UPLOADED PROCESSING READY FAILED }

type MediaError { code: MediaErrorCode! details: String message: String! }
type Image { id: ID url: URL! altText: String width: Int height: Int }
type MediaPreviewImage { image: Image status: MediaPreviewImageStatus! }

interface Media {
  alt: String
  id: ID!
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  preview: MediaPreviewImage
  status: MediaStatus!
}

type MediaImage implements Media & Node {
  alt: String
  id: ID!
  image: Image
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  mimeType: String
  preview: MediaPreviewImage
  status: MediaStatus!
}

type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

type MediaEdge { cursor: String! node: Media! }
type MediaConnection { edges: [MediaEdge!]! nodes: [Media!]! pageInfo: PageInfo! }

type ProductVariant implements Node {
  id: ID!
  displayName: String!
  product: Product!
  sku: String
  title: String!
}
type ProductVariantEdge { cursor: String! node: ProductVariant! }
type ProductVariantConnection {
  edges: [ProductVariantEdge!]!
  nodes: [ProductVariant!]!
  pageInfo: PageInfo!
}

type Product implements Node {
  handle: String!
  id: ID!
  media(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
        query: String): MediaConnection!
  title: String!
  variants(first: Int, after: String, last: Int, before: String,
           reverse: Boolean = false): ProductVariantConnection!
}

type QueryRoot {
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  product(id: ID, handle: String): Product
  productVariant(id: ID!): ProductVariant
  productVariants(first: Int, after: String, last: Int, before: String,
                  reverse: Boolean = false, query: String): ProductVariantConnection!
}

enum StagedUploadTargetGenerateUploadResource {
  BULK_MUTATION_VARIABLES COLLECTION_IMAGE FILE IMAGE MODEL_3D PRODUCT_IMAGE SHOP_IMAGE VIDEO
  RETURN_LABEL URL_REDIRECT_IMPORT DISPUTE_FILE_UPLOAD
}
enum StagedUploadHttpMethodType { POST PUT }

input StagedUploadInput {
  filename: String!
  fileSize: UnsignedInt64
  httpMethod: StagedUploadHttpMethodType = PUT
  mimeType: String!
  resource: StagedUploadTargetGenerateUploadResource!
}
input CreateMediaInput {
  alt: String
  mediaContentType: MediaContentType!
  originalSource: String!
}
input ProductUpdateInput {
  id: ID
  title: String
  handle: String
  descriptionHtml: String
  vendor: String
  productType: String
  tags: [String!]
}

type StagedUploadParameter { name: String! value: String! }
type StagedMediaUploadTarget {
  parameters: [StagedUploadParameter!]!
  resourceUrl: URL
  url: URL
}
type UserError { field: [String!] message: String! }
enum FilesErrorCode {
  FILE_DOES_NOT_EXIST FILE_LOCKED INVALID TOO_MANY_ARGUMENTS MISSING_ARGUMENTS
}
type FilesUserError { code: FilesErrorCode field: [String!] message: String! }

type StagedUploadsCreatePayload {
  stagedTargets: [StagedMediaUploadTarget!]
  userErrors: [UserError!]!
}
type ProductUpdatePayload { product: Product userErrors: [UserError!]! }
type FileDeletePayload { deletedFileIds: [ID!] userErrors: [FilesUserError!]! }

type Mutation {
  fileDelete(fileIds: [ID!]!): FileDeletePayload
  productUpdate(product: ProductUpdateInput, media: [CreateMediaInput!]): ProductUpdatePayload
  stagedUploadsCreate(input: [StagedUploadInput!]!): StagedUploadsCreatePayload
}
"""

SCHEMA: GraphQLSchema = build_schema(SCHEMA_SDL)


# -- state -------------------------------------------------------------------------------------


@dataclass
class FakeProduct:
    id: str
    title: str
    handle: str
    media_ids: list[str] = field(default_factory=list)
    variant_ids: list[str] = field(default_factory=list)


@dataclass
class FakeVariant:
    id: str
    sku: str
    title: str
    product_id: str


@dataclass
class FakeMedia:
    id: str
    product_id: str
    alt: str | None
    polls: int = 0
    final_status: str = "READY"
    errors: list[dict[str, str | None]] = field(default_factory=list)
    status: str = "UPLOADED"
    width: int | None = None
    height: int | None = None


@dataclass
class _StagedTarget:
    key: str
    filename: str
    mime_type: str
    method: str
    signature: str
    data: bytes | None = None


@dataclass(frozen=True)
class ServedOperation:
    """One GraphQL request the fake answered (for tests and the demo)."""

    operation: str | None
    root_fields: tuple[str, ...]
    requested_cost: int
    throttled: bool
    errors: bool


class _Throttled(Exception):
    pass


@dataclass
class FakeShopify:
    """The fake's state and knobs; :meth:`start` serves it on ``host:port`` in a thread."""

    access_token: str = DEFAULT_TOKEN
    api_versions: frozenset[str] = frozenset({DEFAULT_VERSION})
    bucket_max: float = 2000.0
    """Standard plan: 2000-point bucket, 100 points/s (shopify.dev GraphQL Admin rate limits)."""
    restore_rate: float = 100.0
    polls_to_ready: int = 2
    auto_products: bool = False
    """Look-ups of unknown SKUs create a product for them (the demo's convenience)."""
    served: list[ServedOperation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._products: dict[str, FakeProduct] = {}
        self._variants: dict[str, FakeVariant] = {}
        self._media: dict[str, FakeMedia] = {}
        self._staged: dict[str, _StagedTarget] = {}
        self._available = self.bucket_max
        self._refilled_at = time.monotonic()
        self._secret = uuid.uuid4().hex
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeShopify:
        self._server = ThreadingHTTPServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-shopify",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeShopify:
        return self.start() if self._server is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not running; call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def admin_base_url(self) -> str:
        """What ``PLINTH_SHOPIFY_BASE_URL`` should be to talk to this fake."""
        return f"{self.url}/admin/api"

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
            return {"errors": [_shopify_error(exc)]}
        problems = validate(SCHEMA, document)
        if problems:
            return {"errors": [_shopify_error(e) for e in problems]}
        operation = _select_operation(document, operation_name)
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
            except _Throttled:
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
                root_value=_Root(self),
                variable_values=variables,
                operation_name=operation_name,
            )
            errors = [_shopify_error(e) for e in result.errors or []]
            self.served.append(ServedOperation(operation_name, roots, cost, False, bool(errors)))
            actual = (
                cost
                if operation.operation is OperationType.MUTATION
                else min(cost, _returned_objects(result.data))
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
            raise _Throttled
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
        self._staged[key] = _StagedTarget(
            key, item["filename"], item["mimeType"], method, signature
        )
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
            failure, media.width, media.height = _inspect_image(data)
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


# -- resolvers ---------------------------------------------------------------------------------


class _Root:
    """Root value for graphql-core: a field resolves to the method of the same name."""

    def __init__(self, fake: FakeShopify) -> None:
        self.fake = fake

    # queries
    def productVariants(self, _info: Any, **args: Any) -> dict[str, Any]:
        variants = self.fake._find_variants(args.get("query"))
        return _connection([self._variant(v) for v in variants], args)

    def product(self, _info: Any, id: str | None = None, handle: str | None = None) -> Any:
        for product in self.fake._products.values():
            if product.id == id or (handle is not None and product.handle == handle):
                return self._product(product)
        return None

    def productVariant(self, _info: Any, id: str) -> Any:
        variant = self.fake._variants.get(id)
        return self._variant(variant) if variant else None

    def node(self, _info: Any, id: str) -> Any:
        return self._node(id)

    def nodes(self, _info: Any, ids: list[str]) -> list[Any]:
        if len(ids) > 250:
            raise GraphQLError("The 'ids' argument accepts at most 250 IDs.")
        return [self._node(i) for i in ids]

    # mutations
    def stagedUploadsCreate(self, _info: Any, input: list[dict[str, Any]]) -> Any:
        errors = [
            {"field": ["input", str(i), "mimeType"], "message": "MIME type is not an image"}
            for i, item in enumerate(input)
            if item["resource"] in ("IMAGE", "PRODUCT_IMAGE")
            and not str(item["mimeType"]).startswith("image/")
        ]
        if errors:
            return {"stagedTargets": None, "userErrors": errors}
        return {"stagedTargets": [self.fake._stage(i) for i in input], "userErrors": []}

    def productUpdate(
        self,
        _info: Any,
        product: dict[str, Any] | None = None,
        media: list[dict[str, Any]] | None = None,
    ) -> Any:
        changes = product or {}
        product_id = changes.get("id")
        if not product_id:
            return {"product": None, "userErrors": [{"field": ["id"], "message": "id required"}]}
        found = self.fake._products.get(product_id)
        if found is None:
            return {
                "product": None,
                "userErrors": [{"field": ["id"], "message": "Product does not exist"}],
            }
        errors = [
            {"field": ["media", str(i), "originalSource"], "message": "Image URL is invalid"}
            for i, item in enumerate(media or [])
            if urlsplit(str(item["originalSource"])).scheme not in ("http", "https")
        ]
        if errors:
            return {"product": self._product(found), "userErrors": errors}
        for key in ("title", "handle"):
            if changes.get(key):
                setattr(found, key, str(changes[key]))
        for item in media or []:
            self.fake._create_media(found, item)
        return {"product": self._product(found), "userErrors": []}

    def fileDelete(self, _info: Any, fileIds: list[str]) -> Any:
        missing = [i for i in fileIds if i not in self.fake._media]
        if missing:
            # Shopify refuses the whole call when any file does not exist.
            return {
                "deletedFileIds": None,
                "userErrors": [
                    {
                        "code": "FILE_DOES_NOT_EXIST",
                        "field": ["fileIds"],
                        "message": f"File id {m} does not exist.",
                    }
                    for m in missing
                ],
            }
        for file_id in fileIds:
            self.fake._delete_file(file_id)
        return {"deletedFileIds": list(fileIds), "userErrors": []}

    # shapes
    def _node(self, gid: str) -> Any:
        if gid in self.fake._media:
            media = self.fake._media[gid]
            self.fake._advance(media)
            return self._media(media)
        if gid in self.fake._products:
            return self._product(self.fake._products[gid])
        if gid in self.fake._variants:
            return self._variant(self.fake._variants[gid])
        return None

    def _product(self, product: FakeProduct) -> dict[str, Any]:
        def media(_info: Any, **args: Any) -> dict[str, Any]:
            items = [self._media(self.fake._media[m]) for m in product.media_ids]
            return _connection(items, args)

        def variants(_info: Any, **args: Any) -> dict[str, Any]:
            items = [self._variant(self.fake._variants[v]) for v in product.variant_ids]
            return _connection(items, args)

        return {
            "__typename": "Product",
            "id": product.id,
            "title": product.title,
            "handle": product.handle,
            "media": media,
            "variants": variants,
        }

    def _variant(self, variant: FakeVariant) -> dict[str, Any]:
        product = self.fake._products[variant.product_id]
        return {
            "__typename": "ProductVariant",
            "id": variant.id,
            "sku": variant.sku,
            "title": variant.title,
            "displayName": f"{product.title} - {variant.title}",
            "product": lambda _info: self._product(product),
        }

    def _media(self, media: FakeMedia) -> dict[str, Any]:
        ready = media.status == "READY"
        image = (
            {
                "id": media.id.replace("MediaImage", "ImageSource"),
                "url": f"{self.fake.url}/_cdn/{media.id.rsplit('/', 1)[-1]}.jpg",
                "altText": media.alt,
                "width": media.width,
                "height": media.height,
            }
            if ready
            else None
        )
        return {
            "__typename": "MediaImage",
            "id": media.id,
            "alt": media.alt,
            "status": media.status,
            "mediaContentType": "IMAGE",
            "mediaErrors": media.errors if media.status == "FAILED" else [],
            "mimeType": "image/jpeg",
            "image": image,
            "preview": {"status": media.status, "image": image},
        }


def _connection(items: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    first, last, after = args.get("first"), args.get("last"), args.get("after")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    if (first is not None and first > 250) or (last is not None and last > 250):
        raise GraphQLError("The 'first' and 'last' arguments accept at most 250 records.")
    if args.get("reverse"):
        items = list(reversed(items))
    start = int(after) + 1 if after and str(after).isdigit() else 0
    indexed = list(enumerate(items))[start:]
    if first is not None:
        page, more = indexed[:first], len(indexed) > first
    else:
        page, more = indexed[-last:] if last else [], False
    return {
        "nodes": [item for _, item in page],
        "edges": [{"cursor": str(i), "node": item} for i, item in page],
        "pageInfo": {
            "hasNextPage": more,
            "hasPreviousPage": start > 0,
            "startCursor": str(page[0][0]) if page else None,
            "endCursor": str(page[-1][0]) if page else None,
        },
    }


def _inspect_image(data: bytes) -> tuple[tuple[str, str] | None, int | None, int | None]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            fmt, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return ("IMAGE_PROCESSING_FAILURE", "Image could not be processed"), None, None
    if fmt not in ACCEPTED_IMAGE_FORMATS:
        return ("UNSUPPORTED_IMAGE_FILE_TYPE", f"{fmt} images are not supported"), None, None
    if width * height > MAX_IMAGE_PIXELS:
        return ("INVALID_IMAGE_FILE_SIZE", "Image is larger than 20 megapixels"), width, height
    return None, width, height


# -- cost --------------------------------------------------------------------------------------


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
) -> int:
    """Shopify's requested cost of ``operation`` (see the module docstring for the rules)."""
    if operation.operation is OperationType.MUTATION:
        return MUTATION_COST * sum(
            1 for s in operation.selection_set.selections if isinstance(s, FieldNode)
        )
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.query_type
    assert root is not None
    return _selection_cost(schema, operation.selection_set, root, fragments, variables)


def _selection_cost(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, selection, parent, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            target = (
                schema.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            total += _selection_cost(
                schema, selection.selection_set, target or parent, fragments, variables
            )
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            target = schema.get_type(fragment.type_condition.name.value) or parent
            total += _selection_cost(schema, fragment.selection_set, target, fragments, variables)
    return total


def _field_cost(
    schema: GraphQLSchema,
    node: FieldNode,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    if node.name.value.startswith("__") or not isinstance(
        parent, GraphQLObjectType | GraphQLInterfaceType
    ):
        return 0
    definition = parent.fields.get(node.name.value)
    if definition is None:
        return 0
    named = get_named_type(definition.type)
    if is_leaf_type(named):
        return 0
    inner = _selection_cost(schema, node.selection_set, named, fragments, variables)
    if named.name.endswith("Connection"):
        size = _int_argument(node, "first", variables) or _int_argument(node, "last", variables)
        return 2 + (size or 0) * max(1, inner)
    return 1 + inner


def _returned_objects(data: Any) -> int:
    """Objects in a result: what a query actually cost (Shopify refunds the rest)."""
    if isinstance(data, dict):
        return 1 + sum(_returned_objects(v) for v in data.values())
    if isinstance(data, list):
        return sum(_returned_objects(v) for v in data)
    return 0


def _int_argument(node: FieldNode, name: str, variables: dict[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return int(given) if isinstance(given, int) else None
    return None


def _select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


_UNDEFINED_FIELD = re.compile(r"^Cannot query field '(\w+)' on type '(\w+)'\.")


def _shopify_error(error: GraphQLError) -> dict[str, Any]:
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


# -- HTTP plumbing -----------------------------------------------------------------------------

_GRAPHQL_PATH = re.compile(r"^/admin/api/([^/]+)/graphql\.json$")


def _make_handler(fake: FakeShopify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            match = _GRAPHQL_PATH.match(path)
            if match:
                self._graphql(match.group(1), body)
            elif path == "/_staged":
                self._staged_post(body)
            elif path == "/_fake/products":
                self._seed(body)
            else:
                self._send(404, {"errors": "Not Found"})

        def do_PUT(self) -> None:
            parts = urlsplit(self.path)
            body = self._body()
            if not parts.path.startswith("/_staged/"):
                self._send(404, {"errors": "Not Found"})
                return
            key = parts.path[len("/_staged/") :]
            signature = next(iter(parse_qs(parts.query).get("signature", [])), None)
            if not fake._check_signature(key, signature, "PUT"):
                self._send(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
                return
            problem = fake._receive_upload(key, body, self.headers.get("Content-Type"))
            if problem:
                self._send(400, problem.encode(), "text/plain")
            else:
                self._send(200, b"", "text/plain")

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/_fake/media":
                sku = (query.get("sku") or [""])[0]
                theme = next(iter(query.get("theme", [])), None)
                product = fake.product_for_sku(sku)
                media = fake.media_for(sku, theme)
                self._send(
                    200,
                    {
                        "sku": sku,
                        "theme": theme,
                        "product_id": product.id if product else None,
                        "media": [{"id": m.id, "alt": m.alt, "status": m.status} for m in media],
                    },
                )
            elif parts.path == "/_fake/requests":
                with fake._lock:
                    served = [s.__dict__ for s in fake.served]
                self._send(200, {"requests": served})
            elif parts.path == "/_fake/health":
                self._send(200, {"ok": True})
            elif parts.path.startswith("/admin/api/"):
                self._send(405, {"errors": "GraphQL requests must be POSTed"})
            else:
                self._send(404, {"errors": "Not Found"})

        def _graphql(self, version: str, body: bytes) -> None:
            token = self.headers.get("X-Shopify-Access-Token")
            if token != fake.access_token:
                self._send(401, {"errors": INVALID_TOKEN_MESSAGE})
                return
            if version not in fake.api_versions:
                self._send(404, {"errors": "Not Found"})
                return
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type == "application/graphql":
                payload: Any = {"query": body.decode("utf-8", "replace")}
            elif content_type == "application/json":
                try:
                    payload = json.loads(body or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    self._send(400, {"errors": "Bad Request: body is not valid JSON"})
                    return
            else:
                self._send(415, {"errors": "Content-Type must be application/json"})
                return
            self._send(200, fake.graphql(payload))

        def _staged_post(self, body: bytes) -> None:
            fields = _parse_multipart(self.headers.get("Content-Type") or "", body)
            if fields is None or "file" not in fields or "key" not in fields:
                self._send(400, b"<Error><Code>InvalidArgument</Code></Error>", "application/xml")
                return
            if list(fields)[-1] != "file":
                # GCS ignores fields after the file: a policy field sent late is a client bug.
                self._send(400, b"<Error><Code>InvalidPolicyDocument</Code></Error>")
                return
            key = fields["key"][0].decode()
            signature = fields.get("x-goog-signature", (b"",))[0].decode()
            if not fake._check_signature(key, signature, "POST"):
                self._send(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
                return
            content_type = fields.get("Content-Type", (b"",))[0].decode() or None
            problem = fake._receive_upload(key, fields["file"][0], content_type)
            if problem:
                self._send(400, problem.encode(), "text/plain")
                return
            self._send(
                201,
                f"<PostResponse><Key>{key}</Key></PostResponse>".encode(),
                "application/xml",
            )

        def _seed(self, body: bytes) -> None:
            try:
                payload = json.loads(body or b"null")
                sku, title = str(payload["sku"]), str(payload.get("title") or payload["sku"])
            except (json.JSONDecodeError, KeyError, TypeError):
                self._send(400, {"errors": 'expected {"sku": ..., "title": ...}'})
                return
            existing = fake.product_for_sku(sku)
            product = existing or fake.add_product(title, [sku])
            self._send(201 if existing is None else 200, {"product_id": product.id, "sku": sku})

    return Handler


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None]] | None:
    """``multipart/form-data`` fields in order: name -> (bytes, filename)."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        return None
    fields: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None
        payload = part.get_payload(decode=True)
        fields[name] = (payload if isinstance(payload, bytes) else b"", part.get_filename())
    return fields


# -- standalone ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Shopify Admin GraphQL API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--api-version", action="append", dest="versions")
    parser.add_argument("--bucket-max", type=float, default=2000.0)
    parser.add_argument("--restore-rate", type=float, default=100.0)
    parser.add_argument("--polls-to-ready", type=int, default=2)
    parser.add_argument("--auto-products", action="store_true")
    parser.add_argument(
        "--product", action="append", default=[], metavar="SKU=TITLE", help="seed a product"
    )
    args = parser.parse_args(argv)
    fake = FakeShopify(
        access_token=args.token,
        api_versions=frozenset(args.versions or [DEFAULT_VERSION]),
        bucket_max=args.bucket_max,
        restore_rate=args.restore_rate,
        polls_to_ready=args.polls_to_ready,
        auto_products=args.auto_products,
    )
    for seed in args.product:
        sku, _, title = seed.partition("=")
        if not sku:
            parser.error(f"--product {seed!r}: expected SKU=TITLE")
        fake.add_product(title or sku, [sku])
    fake.start(args.host, args.port)
    print(
        f"fake Shopify on {fake.admin_base_url} (versions {sorted(fake.api_versions)})", flush=True
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
