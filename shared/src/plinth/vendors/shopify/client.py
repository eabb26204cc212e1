"""The Shopify Admin GraphQL client Plinth publishes with (pure: no Kafka, Mongo or S3).

``ShopifyClient.publish_image`` does the whole job for one (SKU, theme):

1. find the variant by SKU (``productVariants(query: "sku:...")``) and its product, and note
   the product's media ids;
2. stage the image (``stagedUploadsCreate``, then a multipart POST of the bytes to the target);
3. attach it to the product (``productUpdate(product:, media:)``) with alt text (the job's own,
   or the theme's template filled with the SKU, the product's title and the theme's title),
   ending in a marker for (SKU, theme) (see :mod:`plinth.vendors.shopify.media`);
4. poll until the new media is READY (FAILED raises :class:`MediaFailed`, and the failed media is
   deleted; too slow raises :class:`MediaNotReady`);
5. make it the image of the variant the SKU names: detach what the variant showed
   (``productVariantDetachMedia``), append ours (``productVariantAppendMedia``: READY media only,
   ``NON_READY_MEDIA`` otherwise, which is waited out; at most 100 variant-media pairs a call);
6. only then delete the older media carrying the same marker, and those the caller says it
   published before (``job.shopify.media_ids``: found even if a merchant edited their alt text)
   (``fileDelete``), so the product is never left without its image and a re-run never
   duplicates it.
"""

from __future__ import annotations

import asyncio
import logging
import random
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
from plinth.vendors.shopify.media import ALT_MAX_CHARS, alt_text, is_plinth_media
from plinth.vendors.shopify.transport import AdminGraphQL, Sleep

log = logging.getLogger(__name__)

DELETE_ROUNDS = 5
NON_READY_ROUNDS = 3
RACE_BACKOFF_S = 0.05
"""Base of the random wait before another round after a concurrent run changed the media
first (doubled each round, up to 0.8 s): runs that keep meeting each other fall out of step."""


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
    detached_media_ids: tuple[str, ...] = ()
    """Media the variant showed before ours (detached from the variant, kept on the product
    unless they were Plinth's older media for the same (sku, theme))."""


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
        alt_override: str | None = None,
        alt_template: str | None = None,
        theme_title: str | None = None,
        replace_media_ids: Sequence[str] = (),
    ) -> PublishedImage:
        """Publish ``image`` for (sku, theme); see the module docstring for the steps.

        ``alt_override`` (a person's text) wins over ``alt_template`` (the theme's), which
        defaults to the model's default template; ``replace_media_ids`` are media this job
        published before (deleted once ours is in place, if they are still on the product).
        """
        variant = await self.find_variant(sku)
        product_media = await self.list_product_media(variant.product_id)
        before = {m.media_id for m in product_media}
        alt = alt_text(
            variant.product_title,
            sku,
            theme,
            template=alt_template,
            theme_title=theme_title,
            override=alt_override,
        )
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
            return self._superseded(variant, newer[-1], alt)
        except MediaFailed:
            await self._delete_quietly(new_ids)  # don't leave a broken image on the product
            raise
        detached = await self._show_on_variant(variant, sku, theme, new_ids[0])
        if isinstance(detached, str):
            return self._superseded(variant, detached, alt)
        removed = await self.remove_older_media(
            variant.product_id, sku, theme, new_ids[0], also=replace_media_ids
        )
        if removed:
            # An older concurrent run may have put its image on the variant after we did; we
            # just deleted that image (which clears it from the variant): look once more.
            again = await self._show_on_variant(variant, sku, theme, new_ids[0])
            if isinstance(again, str):
                return self._superseded(variant, again, alt)
        return PublishedImage(
            product_id=variant.product_id,
            variant_id=variant.variant_id,
            media_ids=tuple(new_ids),
            removed_media_ids=tuple(removed),
            alt=alt,
            detached_media_ids=tuple(detached),
        )

    async def _show_on_variant(
        self, variant: VariantRef, sku: str, theme: str, media_id: str
    ) -> list[str] | str:
        """:meth:`set_variant_image`; or, when a newer run for the same (sku, theme) deleted
        our media first, the id of that newer media (we were superseded)."""
        try:
            return await self.set_variant_image(variant.product_id, variant.variant_id, media_id)
        except ShopifyUserError as exc:
            if not _only(exc, "MEDIA_DOES_NOT_EXIST", "MEDIA_DOES_NOT_EXIST_ON_PRODUCT"):
                raise
            newer = await self.newer_media(variant.product_id, sku, theme, media_id)
            if not newer:
                raise
            # Our set_variant_image may have detached the newer run's image before our append
            # found ours deleted (the newer run had already finished): hand the variant back to
            # the newest image, or a newer run still at work does it.
            try:
                await self.set_variant_image(variant.product_id, variant.variant_id, newer[-1])
            except ShopifyUserError as again:
                if not _only(again, "MEDIA_DOES_NOT_EXIST", "MEDIA_DOES_NOT_EXIST_ON_PRODUCT"):
                    raise
            return newer[-1]

    @staticmethod
    def _superseded(variant: VariantRef, newer_id: str, alt: str) -> PublishedImage:
        return PublishedImage(
            product_id=variant.product_id,
            variant_id=variant.variant_id,
            media_ids=(newer_id,),
            removed_media_ids=(),
            alt=alt,
            superseded=True,
        )

    async def plinth_media_ids(self, product_id: str, sku: str, theme: str) -> list[str]:
        """Ids of Plinth's media for (sku, theme) on the product, oldest first."""
        media = await self.list_product_media(product_id)
        ours = [m.media_id for m in media if is_plinth_media(m.alt, sku, theme)]
        return sorted(ours, key=_id_number)

    async def newer_media(self, product_id: str, sku: str, theme: str, than_id: str) -> list[str]:
        """Plinth's media for (sku, theme) on the product that are newer than ``than_id``,
        oldest first."""
        media_ids = await self.plinth_media_ids(product_id, sku, theme)
        return [media_id for media_id in media_ids if _is_older(than_id, media_id)]

    async def remove_older_media(
        self,
        product_id: str,
        sku: str,
        theme: str,
        current_id: str,
        *,
        also: Sequence[str] = (),
    ) -> list[str]:
        """Delete Plinth's media for (sku, theme) that are older than ``current_id``, and the
        media in ``also`` (what this job published before) still on the product.

        Listed now, after ours is READY, not before the upload: that also catches media left
        by a run that crashed between attaching and cleaning up. "Older" is by id (Shopify ids
        grow over time; a merchant may have reordered the gallery), and newer ones are left to
        the concurrent run that attached them, which deletes ours: the newest image wins and
        exactly one remains.
        """
        for attempt in range(DELETE_ROUNDS):
            if attempt:
                await self._after_a_lost_race(attempt)
            media = await self.list_product_media(product_id)
            media_ids = sorted(
                (m.media_id for m in media if is_plinth_media(m.alt, sku, theme)), key=_id_number
            )
            older = [media_id for media_id in media_ids if _is_older(media_id, current_id)]
            on_product = {m.media_id for m in media}
            older += [
                media_id
                for media_id in also
                if media_id in on_product
                and media_id not in older
                and _is_older(media_id, current_id)  # never a newer run's
            ]
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

    async def _after_a_lost_race(self, attempt: int) -> None:
        """Wait a random while before round ``attempt`` (>= 1) of a loop that a concurrent run
        keeps beating to the same media: without it, runs in step can beat each other every
        round until the rounds run out."""
        await self._sleep(random.uniform(0, RACE_BACKOFF_S * 2 ** (attempt - 1)))

    async def set_variant_image(self, product_id: str, variant_id: str, media_id: str) -> list[str]:
        """Make ``media_id`` (READY, on the product) the variant's image: detach whatever else
        the variant shows, then append ours. Returns the detached media ids.

        A variant shows one media: Shopify refuses a second with
        ``PRODUCT_VARIANT_ALREADY_HAS_MEDIA``; that answer (a concurrent run for another theme
        of the same SKU appended between our detach and append) sends us round again.
        """
        detached: list[str] = []
        for attempt in range(DELETE_ROUNDS):
            if attempt:
                await self._after_a_lost_race(attempt)
            current = await self.variant_media_ids(variant_id)
            if current == [media_id]:
                return detached
            others = [m for m in current if m != media_id]
            if others:
                try:
                    await self.detach_variant_media(product_id, [(variant_id, m) for m in others])
                except ShopifyUserError as exc:
                    if not _only(exc, "MEDIA_IS_NOT_ATTACHED_TO_VARIANT", "MEDIA_DOES_NOT_EXIST"):
                        raise
                    continue  # someone else changed the variant's media first: look again
                detached += others
            if media_id in current:
                return detached
            try:
                await self.append_variant_media(product_id, [(variant_id, media_id)])
            except ShopifyUserError as exc:
                if not _only(exc, "PRODUCT_VARIANT_ALREADY_HAS_MEDIA"):
                    raise
                continue
            return detached
        raise ShopifyUserError(
            "productVariantAppendMedia",
            [FieldError(("variantMedia",), "the variant's media kept changing", None)],
        )

    async def variant_media_ids(self, variant_id: str) -> list[str]:
        data = await self.graphql.execute(
            "PlinthVariantMedia", queries.VARIANT_MEDIA, {"id": variant_id}
        )
        variant = data.get("productVariant")
        if variant is None:
            raise ShopifyUserError(
                "productVariant", [FieldError(("id",), f"variant {variant_id} does not exist")]
            )
        return [str(n["id"]) for n in _path(variant, "media", "nodes", default=[])]

    async def append_variant_media(self, product_id: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Append media to variants of one product: ``pairs`` of (variant id, media id), one
        media per variant (Shopify: TOO_MANY_MEDIA_PER_INPUT_PAIR,
        PRODUCT_VARIANT_SPECIFIED_MULTIPLE_TIMES otherwise).

        Sent in calls of at most 100 pairs (Shopify's limit). Media still processing is
        refused with ``NON_READY_MEDIA``: that is waited out (status polls, as
        :meth:`wait_until_ready`) and the call repeated; a FAILED media raises
        :class:`MediaFailed`, one that stays unready :class:`MediaNotReady` (transient).
        """
        for start in range(0, len(pairs), queries.MAX_VARIANT_MEDIA_PAIRS):
            chunk = pairs[start : start + queries.MAX_VARIANT_MEDIA_PAIRS]
            variant_media = [{"variantId": v, "mediaIds": [m]} for v, m in chunk]
            for attempt in range(NON_READY_ROUNDS):
                data = await self.graphql.execute(
                    "PlinthAppendVariantMedia",
                    queries.APPEND_VARIANT_MEDIA,
                    {"productId": product_id, "variantMedia": variant_media},
                )
                payload = data.get("productVariantAppendMedia") or {}
                errors = payload.get("userErrors") or []
                if not (errors and all(e.get("code") == "NON_READY_MEDIA" for e in errors)):
                    _raise_user_errors("productVariantAppendMedia", payload)
                    break
                media_ids = sorted({m for _, m in chunk})
                if attempt == NON_READY_ROUNDS - 1:
                    raise MediaNotReady(media_ids, self.config.media_ready_timeout_s)
                await self.wait_until_ready(media_ids)  # FAILED or too slow raises

    async def detach_variant_media(self, product_id: str, pairs: Sequence[tuple[str, str]]) -> None:
        for start in range(0, len(pairs), queries.MAX_VARIANT_MEDIA_PAIRS):
            chunk = pairs[start : start + queries.MAX_VARIANT_MEDIA_PAIRS]
            data = await self.graphql.execute(
                "PlinthDetachVariantMedia",
                queries.DETACH_VARIANT_MEDIA,
                {
                    "productId": product_id,
                    "variantMedia": [{"variantId": v, "mediaIds": [m]} for v, m in chunk],
                },
            )
            _raise_user_errors(
                "productVariantDetachMedia", data.get("productVariantDetachMedia") or {}
            )

    async def update_alt(self, media_ids: Sequence[str], alt: str) -> list[str]:
        """Set the alt text of published (READY) media (``fileUpdate``); returns their ids."""
        if len(alt) > ALT_MAX_CHARS:
            raise ShopifyUserError(
                "fileUpdate", [FieldError(("files", "alt"), f"alt text over {ALT_MAX_CHARS}")]
            )
        data = await self.graphql.execute(
            "PlinthUpdateFiles",
            queries.UPDATE_FILES,
            {"files": [{"id": media_id, "alt": alt} for media_id in media_ids]},
        )
        payload = data.get("fileUpdate") or {}
        _raise_user_errors("fileUpdate", payload)
        return [str(f["id"]) for f in payload.get("files") or []]

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


def _only(exc: ShopifyUserError, *codes: str) -> bool:
    return bool(exc.errors) and all(e.code in codes for e in exc.errors)


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
