"""A fake Shopify Admin GraphQL API (plus its staged-upload target), over real HTTP on 127.0.0.1.

It follows the contract request by request:

``POST /admin/api/{version}/graphql.json``
    needs ``X-Shopify-Access-Token`` (else 401 ``{"errors": "[API] Invalid API key or access
    token ..."}`` like Shopify), a served ``{version}`` (else 404), a JSON body with ``query``.
    The document is parsed and validated with graphql-core against :data:`SCHEMA_SDL`, a subset
    of the Admin schema written from the 2026-10 reference (field, argument, input and enum
    names as Shopify spells them), so an unknown field, argument, operation or variable type is
    refused with a GraphQL error, as Shopify would. Supported: ``productVariants``, ``product``,
    ``productVariant`` (with its ``media``), ``node``/``nodes``, ``stagedUploadsCreate``,
    ``productUpdate(product:, media:)``, ``productVariantAppendMedia``,
    ``productVariantDetachMedia``, ``fileUpdate`` and ``fileDelete``.
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
Variant media
    ``productVariantAppendMedia`` checks what Shopify does, each failure a ``MediaUserError``
    with its code, refusing the whole call: at most 100 variant-media pairs
    (``MAXIMUM_VARIANT_MEDIA_PAIRS_EXCEEDED``), one media per pair
    (``TOO_MANY_MEDIA_PER_INPUT_PAIR``), each variant once
    (``PRODUCT_VARIANT_SPECIFIED_MULTIPLE_TIMES``), variant and media on the product, the media
    ``READY`` (``NON_READY_MEDIA`` until its status polls made it so), and a variant shows one
    media (``PRODUCT_VARIANT_ALREADY_HAS_MEDIA``: detach first). Deleting a file clears it
    from the variants. ``fileUpdate`` changes alt text of ``READY`` files (``FILE_LOCKED``
    while processing, ``ALT_VALUE_LIMIT_EXCEEDED`` over 512 characters).
``POST /_staged`` (multipart, the fields ``stagedUploadsCreate`` returned, then ``file``) and
``PUT /_staged/{key}``
    the staged-upload target (Google Cloud Storage in real life); answers 201/200.
Outages: ``fail_next = N`` answers the next N GraphQL requests with 503.
Inspection (tests, the demo): ``GET /_fake/media?sku=&theme=`` lists a SKU's product media (with
``theme``: only Plinth's for that (SKU, theme)), ``POST /_fake/products`` seeds
``{"sku", "title"}``, ``GET /_fake/requests`` lists the GraphQL operations served.

Modules: ``server`` (state, cost bucket, GraphQL entry), ``schema`` (the SDL), ``resolvers``,
``cost``, ``handler`` (HTTP), ``cli``.

Run standalone: ``python -m plinth_testkit.fakes.shopify --port 8091 --token dev-token --product
SKU-1="Blue Mug"`` (``--auto-products`` creates a product for any SKU that is looked up).
"""

from plinth_testkit.fakes.shopify.cli import main
from plinth_testkit.fakes.shopify.server import (
    DEFAULT_TOKEN,
    DEFAULT_VERSION,
    FakeShopify,
)
from plinth_testkit.fakes.shopify.state import FakeMedia, FakeProduct, FakeVariant, ServedOperation

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_VERSION",
    "FakeMedia",
    "FakeProduct",
    "FakeShopify",
    "FakeVariant",
    "ServedOperation",
    "main",
]
