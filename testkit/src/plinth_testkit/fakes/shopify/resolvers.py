"""Resolvers: graphql-core calls the ``Root`` method named like each root field; nested
objects are dicts (``__typename`` picks the type of an interface) or callables for fields with
arguments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from graphql import GraphQLError

from plinth_testkit.fakes.shopify.state import FakeMedia, FakeProduct, FakeVariant

ALT_MAX_CHARS = 512  # FilesErrorCode ALT_VALUE_LIMIT_EXCEEDED
MAX_VARIANT_MEDIA_PAIRS = 100  # MediaUserErrorCode MAXIMUM_VARIANT_MEDIA_PAIRS_EXCEEDED

if TYPE_CHECKING:
    from plinth_testkit.fakes.shopify.server import FakeShopify


class Root:
    """Root value for graphql-core: a field resolves to the method of the same name."""

    def __init__(self, fake: FakeShopify) -> None:
        self.fake = fake

    # queries
    def productVariants(self, _info: Any, **args: Any) -> dict[str, Any]:
        variants = self.fake._find_variants(args.get("query"))
        return connection([self._variant(v) for v in variants], args)

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

    def productVariantAppendMedia(
        self, _info: Any, productId: str, variantMedia: list[dict[str, Any]]
    ) -> Any:
        product = self.fake._products.get(productId)
        errors = self._variant_media_errors(product, variantMedia, appending=True)
        if product is None or errors:
            return {"product": None, "productVariants": None, "userErrors": errors}
        variants = []
        for item in variantMedia:
            variant = self.fake._variants[item["variantId"]]
            variant.media_ids.extend(item["mediaIds"])
            variants.append(variant)
        return {
            "product": self._product(product),
            "productVariants": [self._variant(v) for v in variants],
            "userErrors": [],
        }

    def productVariantDetachMedia(
        self, _info: Any, productId: str, variantMedia: list[dict[str, Any]]
    ) -> Any:
        product = self.fake._products.get(productId)
        errors = self._variant_media_errors(product, variantMedia, appending=False)
        if product is None or errors:
            return {"product": None, "productVariants": None, "userErrors": errors}
        variants = []
        for item in variantMedia:
            variant = self.fake._variants[item["variantId"]]
            variant.media_ids = [m for m in variant.media_ids if m not in item["mediaIds"]]
            variants.append(variant)
        return {
            "product": self._product(product),
            "productVariants": [self._variant(v) for v in variants],
            "userErrors": [],
        }

    def _variant_media_errors(
        self, product: FakeProduct | None, pairs: list[dict[str, Any]], *, appending: bool
    ) -> list[dict[str, Any]]:
        """Shopify's checks on variant-media pairs; any error refuses the whole call."""
        if product is None:
            return [media_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]
        if len(pairs) > MAX_VARIANT_MEDIA_PAIRS:
            return [
                media_error(
                    ["variantMedia"],
                    f"Exceeded the maximum number of {MAX_VARIANT_MEDIA_PAIRS} variant-media "
                    "pairs per mutation call.",
                    "MAXIMUM_VARIANT_MEDIA_PAIRS_EXCEEDED",
                )
            ]
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i, item in enumerate(pairs):
            where = ["variantMedia", str(i)]
            variant_id, media_ids = item["variantId"], item["mediaIds"]
            if len(media_ids) > 1:
                errors.append(
                    media_error(
                        [*where, "mediaIds"],
                        "Only one mediaId is allowed per variant-media input pair.",
                        "TOO_MANY_MEDIA_PER_INPUT_PAIR",
                    )
                )
                continue
            if not media_ids:
                errors.append(media_error([*where, "mediaIds"], "mediaIds is blank", "BLANK"))
                continue
            if variant_id in seen:
                errors.append(
                    media_error(
                        [*where, "variantId"],
                        "Variant specified in more than one pair.",
                        "PRODUCT_VARIANT_SPECIFIED_MULTIPLE_TIMES",
                    )
                )
                continue
            seen.add(variant_id)
            variant = self.fake._variants.get(variant_id)
            if variant is None or variant.product_id != product.id:
                errors.append(
                    media_error(
                        [*where, "variantId"],
                        "Variant does not exist on the given product.",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST_ON_PRODUCT",
                    )
                )
                continue
            media_id = media_ids[0]
            media = self.fake._media.get(media_id)
            if media is None:
                errors.append(
                    media_error(
                        [*where, "mediaIds"], "Media does not exist.", "MEDIA_DOES_NOT_EXIST"
                    )
                )
            elif media_id not in product.media_ids:
                errors.append(
                    media_error(
                        [*where, "mediaIds"],
                        "Media does not exist on the given product.",
                        "MEDIA_DOES_NOT_EXIST_ON_PRODUCT",
                    )
                )
            elif not appending:
                if media_id not in variant.media_ids:
                    errors.append(
                        media_error(
                            [*where, "mediaIds"],
                            "The specified media is not attached to the specified variant.",
                            "MEDIA_IS_NOT_ATTACHED_TO_VARIANT",
                        )
                    )
            elif media.status != "READY":
                errors.append(
                    media_error(
                        [*where, "mediaIds"],
                        "Non-ready media are not supported.",
                        "NON_READY_MEDIA",
                    )
                )
            elif variant.media_ids:
                errors.append(
                    media_error(
                        [*where, "variantId"],
                        "Product variant already has attached media.",
                        "PRODUCT_VARIANT_ALREADY_HAS_MEDIA",
                    )
                )
        return errors

    def fileUpdate(self, _info: Any, files: list[dict[str, Any]]) -> Any:
        errors: list[dict[str, Any]] = []
        for i, item in enumerate(files):
            media = self.fake._media.get(item["id"])
            where = ["files", str(i)]
            if media is None:
                errors.append(
                    files_error([*where, "id"], "File does not exist.", "FILE_DOES_NOT_EXIST")
                )
            elif media.status == "FAILED":
                errors.append(
                    files_error(
                        [*where, "id"],
                        "File cannot be updated in a failed state.",
                        "INVALID_FAILED_MEDIA_STATE",
                    )
                )
            elif media.status != "READY":
                errors.append(
                    files_error([*where, "id"], "File has a pending operation.", "FILE_LOCKED")
                )
            elif item.get("alt") is not None and len(item["alt"]) > ALT_MAX_CHARS:
                errors.append(
                    files_error(
                        [*where, "alt"],
                        f"The alt value exceeds the maximum limit of {ALT_MAX_CHARS} characters.",
                        "ALT_VALUE_LIMIT_EXCEEDED",
                    )
                )
        if errors:
            return {"files": None, "userErrors": errors}
        updated = []
        for item in files:
            media = self.fake._media[item["id"]]
            if "alt" in item and item["alt"] is not None:
                media.alt = item["alt"]
            updated.append(self._media(media))
        return {"files": updated, "userErrors": []}

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
            return connection(items, args)

        def variants(_info: Any, **args: Any) -> dict[str, Any]:
            items = [self._variant(self.fake._variants[v]) for v in product.variant_ids]
            return connection(items, args)

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

        def media(_info: Any, **args: Any) -> dict[str, Any]:
            items = [self._media(self.fake._media[m]) for m in variant.media_ids]
            return connection(items, args)

        return {
            "media": media,
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
            "fileStatus": media.status,
            "mediaContentType": "IMAGE",
            "mediaErrors": media.errors if media.status == "FAILED" else [],
            "mimeType": "image/jpeg",
            "image": image,
            "preview": {"status": media.status, "image": image},
        }


def media_error(field: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


files_error = media_error


def connection(items: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
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
