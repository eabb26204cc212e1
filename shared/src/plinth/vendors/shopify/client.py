"""The Shopify Admin GraphQL client Plinth publishes with (pure: no Kafka, Mongo or S3).

``ShopifyClient.publish_image`` does the whole job for one (SKU, theme):

1. find the variant by SKU (``productVariants(query: "sku:...")``) and its product, and note
   the product's media ids;
2. stage the image (``stagedUploadsCreate``, then a multipart POST of the bytes to the target);
3. attach it to the product (``productUpdate(product:, media:)``) with alt text from the title
   and theme, ending in a marker for (SKU, theme) (see :mod:`plinth.vendors.shopify.media`);
4. poll until the new media is READY (FAILED raises :class:`MediaFailed`, and the failed media is
   deleted; too slow raises :class:`MediaNotReady`);
5. only then delete the older media carrying the same marker (``fileDelete``), so the product
   is never left without its image and a re-run never duplicates it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from plinth.vendors.shopify import queries
from plinth.vendors.shopify.config import ShopifyConfig
from plinth.vendors.shopify.errors import (
    FieldError,
    MediaFailed,
    MediaNotReady,
    MediaVanished,
    ShopifyError,
    ShopifyQueryError,
    ShopifyUnavailable,
    ShopifyUserError,
    SkuNotFound,
    StagedUploadRejected,
)
from plinth.vendors.shopify.media import alt_text, is_plinth_media
from plinth.vendors.shopify.transport import AdminGraphQL, Sleep

log = logging.getLogger(__name__)

DELETE_ROUNDS = 5


@dataclass(frozen=True)
class VariantRef:
    variant_id: str
    sku: str
    product_id: str
    product_title: str


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    alt: str | None
    status: str


@dataclass(frozen=True)
class PublishedImage:
    product_id: str
    variant_id: str
    media_ids: tuple[str, ...]
    removed_media_ids: tuple[str, ...]
    alt: str
    superseded: bool = False
    """A concurrent run for the same (sku, theme) published a newer image while ours was
    processing and replaced it; ``media_ids`` then names that newer image."""


def sku_search(sku: str) -> str:
    """Shopify search syntax for an exact SKU: quoted, with quotes and backslashes escaped."""
    escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
    return f'sku:"{escaped}"'


class ShopifyClient:
    def __init__(
        self,
        config: ShopifyConfig,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=config.request_timeout_s)
        self._sleep = sleep
        self.graphql = AdminGraphQL(config, self._http, sleep=sleep)

    async def __aenter__(self) -> ShopifyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # --- the whole publish ------------------------------------------------------------------

    async def publish_image(
        self,
        *,
        sku: str,
        theme: str,
        image: bytes,
        filename: str,
        mime_type: str = "image/jpeg",
    ) -> PublishedImage:
        variant = await self.find_variant(sku)
        before = {m.media_id for m in await self.list_product_media(variant.product_id)}
        alt = alt_text(variant.product_title, sku, theme)
        source = await self.stage_upload(image, filename=filename, mime_type=mime_type)
        new_ids = await self.attach_media(
            variant.product_id, source, alt=alt, known_media_ids=before
        )
        try:
            await self.wait_until_ready(new_ids)
        except MediaVanished:
            # A concurrent run for the same (sku, theme) attached a newer image, saw it READY
            # first and deleted ours as older: the newest image wins, and that is not a failure.
            newer = await self.newer_media(variant.product_id, sku, theme, new_ids[0])
            if not newer:
                raise
            return PublishedImage(
                product_id=variant.product_id,
                variant_id=variant.variant_id,
                media_ids=(newer[-1],),
                removed_media_ids=(),
                alt=alt,
                superseded=True,
            )
        except MediaFailed:
            await self._delete_quietly(new_ids)  # don't leave a broken image on the product
            raise
        removed = await self.remove_older_media(variant.product_id, sku, theme, new_ids[0])
        return PublishedImage(
            product_id=variant.product_id,
            variant_id=variant.variant_id,
            media_ids=tuple(new_ids),
            removed_media_ids=tuple(removed),
            alt=alt,
        )

    async def plinth_media_ids(self, product_id: str, sku: str, theme: str) -> list[str]:
        """Ids of Plinth's media for (sku, theme) on the product, oldest first."""
        media = await self.list_product_media(product_id)
        ours = [m.media_id for m in media if is_plinth_media(m.alt, sku, theme)]
        return sorted(ours, key=_id_number)

    async def newer_media(self, product_id: str, sku: str, theme: str, than_id: str
                          ) -> list[str]:
        """Plinth's media for (sku, theme) on the product that are newer than ``than_id``,
        oldest first."""
        media_ids = await self.plinth_media_ids(product_id, sku, theme)
        return [media_id for media_id in media_ids if _is_older(than_id, media_id)]

    async def remove_older_media(
        self, product_id: str, sku: str, theme: str, current_id: str
    ) -> list[str]:
        """Delete Plinth's media for (sku, theme) that are older than ``current_id``.

        Listed now, after ours is READY, not before the upload: that also catches media left
        by a run that crashed between attaching and cleaning up. "Older" is by id (Shopify ids
        grow over time; a merchant may have reordered the gallery), and newer ones are left to
        the concurrent run that attached them, which deletes ours: the newest image wins and
        exactly one remains.
        """
        for _ in range(DELETE_ROUNDS):
            media_ids = await self.plinth_media_ids(product_id, sku, theme)
            older = [media_id for media_id in media_ids if _is_older(media_id, current_id)]
            if not older:
                return []
            try:
                return await self.delete_files(older)
            except ShopifyUserError as exc:
                if not all(e.code == "FILE_DOES_NOT_EXIST" for e in exc.errors):
                    raise
                # A concurrent run deleted some of them first, and fileDelete refuses the
                # whole list then: look again and delete what is still there.
        raise ShopifyUserError(
            "fileDelete", [FieldError(("fileIds",), "media kept vanishing while deleting")]
        )

    # --- the steps --------------------------------------------------------------------------

    async def find_variant(self, sku: str) -> VariantRef:
        data = await self.graphql.execute(
            "PlinthFindVariant", queries.FIND_VARIANT, {"query": sku_search(sku)}
        )
        nodes = _path(data, "productVariants", "nodes", default=[])
        # Shopify's search is token-based: insist on an exact SKU among the hits.
        for node in nodes:
            if isinstance(node, Mapping) and node.get("sku") == sku:
                product = node.get("product") or {}
                return VariantRef(
                    variant_id=str(node["id"]),
                    sku=sku,
                    product_id=str(product["id"]),
                    product_title=str(product.get("title") or ""),
                )
        raise SkuNotFound(sku)

    async def list_product_media(self, product_id: str) -> list[MediaRef]:
        found: list[MediaRef] = []
        after: str | None = None
        while True:
            data = await self.graphql.execute(
                "PlinthProductMedia", queries.PRODUCT_MEDIA, {"id": product_id, "after": after}
            )
            product = data.get("product")
            if product is None:
                raise ShopifyUserError(
                    "product", [FieldError(("id",), f"product {product_id} does not exist")]
                )
            media = product.get("media") or {}
            for node in media.get("nodes") or []:
                found.append(
                    MediaRef(str(node["id"]), node.get("alt"), str(node.get("status") or ""))
                )
            page = media.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return found
            after = page.get("endCursor")

    async def stage_upload(self, data: bytes, *, filename: str, mime_type: str) -> str:
        """Upload ``data`` to a Shopify staged target; returns the ``resourceUrl`` to attach."""
        result = await self.graphql.execute(
            "PlinthStagedUpload",
            queries.STAGED_UPLOAD,
            {
                "input": [
                    {
                        "resource": "IMAGE",
                        "filename": filename,
                        "mimeType": mime_type,
                        "httpMethod": "POST",
                        "fileSize": str(len(data)),
                    }
                ]
            },
        )
        payload = result.get("stagedUploadsCreate") or {}
        _raise_user_errors("stagedUploadsCreate", payload)
        targets = payload.get("stagedTargets") or []
        if not targets:
            raise ShopifyQueryError("stagedUploadsCreate returned no target")
        target = targets[0]
        form = {p["name"]: p["value"] for p in target.get("parameters") or []}
        # The form fields first, the file last: the order a signed POST policy requires.
        try:
            response = await self._http.post(
                target["url"],
                data=form,
                files={"file": (filename, data, mime_type)},
                timeout=self.config.request_timeout_s,
            )
        except httpx.TransportError as exc:
            raise ShopifyUnavailable(f"staged upload: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise ShopifyUnavailable(f"staged upload: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise StagedUploadRejected(
                f"staged upload: HTTP {response.status_code}: {response.text[:200]}"
            )
        return str(target["resourceUrl"])

    async def attach_media(
        self, product_id: str, source_url: str, *, alt: str, known_media_ids: set[str]
    ) -> list[str]:
        data = await self.graphql.execute(
            "PlinthAttachMedia",
            queries.ATTACH_MEDIA,
            {
                "product": {"id": product_id},
                "media": [{"originalSource": source_url, "alt": alt, "mediaContentType": "IMAGE"}],
            },
        )
        payload = data.get("productUpdate") or {}
        _raise_user_errors("productUpdate", payload)
        nodes = _path(payload, "product", "media", "nodes", default=[])
        new_ids = [
            str(n["id"]) for n in nodes if n.get("alt") == alt and n["id"] not in known_media_ids
        ]
        if not new_ids:
            raise ShopifyQueryError("productUpdate succeeded but the new media is not listed")
        return [max(new_ids, key=_id_number)]  # ours is the newest: ids grow over time

    async def wait_until_ready(self, media_ids: Sequence[str]) -> None:
        deadline = time.monotonic() + self.config.media_ready_timeout_s
        interval = self.config.media_poll_interval_s
        pending = list(media_ids)
        while True:
            data = await self.graphql.execute(
                "PlinthMediaStatus", queries.MEDIA_STATUS, {"ids": pending}
            )
            still: list[str] = []
            for media_id, node in zip(pending, data.get("nodes") or [], strict=False):
                if node is None:
                    raise MediaVanished(media_id)
                status = node.get("status")
                if status == "FAILED":
                    reasons = [
                        f"{e.get('code')}: {e.get('message')}"
                        for e in node.get("mediaErrors") or []
                    ]
                    raise MediaFailed(media_id, reasons)
                if status != "READY":
                    still.append(media_id)
            if not still:
                return
            if time.monotonic() + interval > deadline:
                raise MediaNotReady(still, self.config.media_ready_timeout_s)
            pending = still
            await self._sleep(interval)
            interval = min(interval * 1.5, self.config.media_poll_max_interval_s)

    async def delete_files(self, file_ids: Sequence[str]) -> list[str]:
        data = await self.graphql.execute(
            "PlinthDeleteFiles", queries.DELETE_FILES, {"fileIds": list(file_ids)}
        )
        payload = data.get("fileDelete") or {}
        _raise_user_errors("fileDelete", payload)
        return [str(i) for i in payload.get("deletedFileIds") or []]

    async def _delete_quietly(self, file_ids: Sequence[str]) -> None:
        try:
            await self.delete_files(file_ids)
        except ShopifyError as exc:
            # the FAILED media stays; the next run's cleanup finds it by its alt marker
            log.warning("could not delete failed media %s: %s", list(file_ids), exc)


def _raise_user_errors(operation: str, payload: Mapping[str, Any]) -> None:
    errors = payload.get("userErrors") or []
    if errors:
        raise ShopifyUserError(
            operation,
            [
                FieldError(
                    field=tuple(str(f) for f in (e.get("field") or [])),
                    message=str(e.get("message")),
                    code=e.get("code"),
                )
                for e in errors
            ],
        )


def _id_number(gid: str) -> int:
    """The numeric tail of ``gid://shopify/MediaImage/123`` (-1 if there is none)."""
    tail = gid.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _is_older(gid: str, than: str) -> bool:
    return gid != than and _id_number(gid) < _id_number(than)


def _path(data: Any, *keys: str, default: Any) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or data.get(key) is None:
            return default
        data = data[key]
    return data
