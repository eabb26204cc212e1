"""The Admin GraphQL client against the fake Shopify, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from plinth.vendors.shopify import (
    MediaFailed,
    MediaNotReady,
    MediaVanished,
    PublishedImage,
    ShopifyAuthError,
    ShopifyClient,
    ShopifyThrottled,
    SkuNotFound,
)
from plinth.vendors.shopify.client import DELETE_ROUNDS, RACE_BACKOFF_S
from plinth.vendors.shopify.errors import (
    FieldError,
    ShopifyEndpointNotFound,
    ShopifyQueryError,
    ShopifyUnavailable,
    ShopifyUserError,
)
from plinth_testkit.fakes.shopify import FakeShopify

from .conftest import config_for, jpeg_bytes


async def publish(client: ShopifyClient, sku: str = "MUG-1", theme: str = "studio-white"):
    return await client.publish_image(
        sku=sku, theme=theme, image=jpeg_bytes(), filename="0_hero.jpg"
    )


async def test_publish_attaches_one_ready_media_with_alt_text(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    result = await publish(client)

    product = fake.product_for_sku("MUG-1")
    assert product is not None
    assert result.product_id == product.id
    media = fake.media_for("MUG-1", "studio-white")
    assert [m.id for m in media] == list(result.media_ids)
    assert media[0].status == "READY"
    assert media[0].alt == result.alt
    assert result.alt == "Blue Mug – studio white [plinth:MUG-1/studio-white]"
    assert result.removed_media_ids == ()
    # the image is the variant's (MUG-1's), not the other variant's of the same product
    assert [m.id for m in fake.variant_media("MUG-1")] == list(result.media_ids)
    assert fake.variant_media("MUG-1-LARGE") == []
    operations = [s.operation for s in fake.served]
    assert operations[:4] == [
        "PlinthFindVariant",
        "PlinthProductMedia",
        "PlinthStagedUpload",
        "PlinthAttachMedia",
    ]
    # appended only once READY: the status polls come before the variant's media changes
    assert operations.index("PlinthMediaStatus") < operations.index("PlinthAppendVariantMedia")


async def test_rerun_replaces_earlier_media_and_leaves_others_alone(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    first = await publish(client)
    other_theme = await publish(client, theme="marble")
    other_sku = await publish(client, sku="MUG-1-LARGE")
    second = await publish(client)

    mine = fake.media_for("MUG-1", "studio-white")
    assert [m.id for m in mine] == list(second.media_ids)
    assert second.removed_media_ids == first.media_ids
    every = {m.id for m in fake.media_for("MUG-1")}
    assert every == {*second.media_ids, *other_theme.media_ids, *other_sku.media_ids}


async def test_rerun_after_a_crash_between_attach_and_cleanup_still_ends_with_one(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    first = await publish(client)
    # a run that attached its media and died before deleting the earlier one
    variant = await client.find_variant("MUG-1")
    source = await client.stage_upload(jpeg_bytes(), filename="x.jpg", mime_type="image/jpeg")
    await client.attach_media(variant.product_id, source, alt=first.alt, known_media_ids=set())
    assert len(fake.media_for("MUG-1", "studio-white")) == 2

    final = await publish(client)

    assert [m.id for m in fake.media_for("MUG-1", "studio-white")] == list(final.media_ids)
    assert len(final.removed_media_ids) == 2


async def test_throttled_requests_wait_for_the_bucket_and_succeed(fake: FakeShopify) -> None:
    fake.bucket_max, fake.restore_rate = 120.0, 200.0
    fake.drain_bucket(leave=0)
    async with ShopifyClient(config_for(fake)) as client:
        result = await publish(client)
        stats = client.graphql.stats

    assert result.media_ids
    assert fake.throttled_count() >= 1
    assert stats.throttled == fake.throttled_count()
    # the client waited what the bucket needed, (cost - available) / restoreRate, not a guess
    assert stats.throttle_waits_s and all(0 < w < 1.0 for w in stats.throttle_waits_s)
    assert len(fake.media_for("MUG-1", "studio-white")) == 1


async def test_client_waits_before_sending_when_the_bucket_is_known_to_be_low(
    fake: FakeShopify,
) -> None:
    async with ShopifyClient(config_for(fake)) as client:
        await client.find_variant("MUG-1")  # learns the bucket status and this query's cost
        fake.restore_rate = 400.0
        fake.drain_bucket(leave=0)
        # the client still believes the bucket is full: this one is throttled once ...
        await client.find_variant("MUG-1")
        assert client.graphql.stats.throttled == 1
        waits_before = len(client.graphql.stats.throttle_waits_s)
        # ... and now knows it is empty, so it waits *before* sending and is never throttled
        fake.drain_bucket(leave=0)
        client.graphql.budget.observe(
            "PlinthFindVariant",
            {
                "requestedQueryCost": 12,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": 0,
                    "restoreRate": 400.0,
                },
            },
        )
        await client.find_variant("MUG-1")
        assert client.graphql.stats.throttled == 1
        assert len(client.graphql.stats.throttle_waits_s) == waits_before + 1


async def test_throttling_that_never_ends_is_a_transient_error(fake: FakeShopify) -> None:
    fake.restore_rate = 0.001
    fake.drain_bucket(leave=0)
    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    config = config_for(fake, max_throttle_retries=2)
    async with ShopifyClient(config, sleep=no_sleep) as client:
        with pytest.raises(ShopifyThrottled) as caught:
            await client.find_variant("MUG-1")
    assert caught.value.transient
    assert fake.throttled_count() == 3
    assert len(slept) == 2 and all(s > 100 for s in slept)  # 12 points at 0.001/s


async def test_bad_token_is_a_permanent_auth_error(fake: FakeShopify) -> None:
    async with ShopifyClient(config_for(fake, access_token="shpat_wrong")) as client:
        with pytest.raises(ShopifyAuthError) as caught:
            await publish(client)
    assert not caught.value.transient
    assert caught.value.code == "shopify_auth"
    assert "Invalid API key or access token" in str(caught.value)
    assert fake.served == []  # refused before any GraphQL ran


async def test_unserved_api_version_is_a_permanent_error(fake: FakeShopify) -> None:
    async with ShopifyClient(config_for(fake, api_version="2019-04")) as client:
        with pytest.raises(ShopifyEndpointNotFound):
            await client.find_variant("MUG-1")


async def test_unknown_sku_is_permanent(fake: FakeShopify, client: ShopifyClient) -> None:
    with pytest.raises(SkuNotFound) as caught:
        await publish(client, sku="NOPE-404")
    assert not caught.value.transient
    assert caught.value.code == "shopify_sku_not_found"
    assert fake.media_for("MUG-1") == []


async def test_sku_search_needs_an_exact_match_and_survives_quotes(fake: FakeShopify) -> None:
    fake.add_product('Mug "Deluxe"', ['MUG-"Q"\\1'])
    async with ShopifyClient(config_for(fake)) as client:
        variant = await client.find_variant('MUG-"Q"\\1')
        assert variant.product_title == 'Mug "Deluxe"'
        with pytest.raises(SkuNotFound):
            await client.find_variant("MUG")


async def test_media_that_fails_processing_raises_and_is_removed(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    with pytest.raises(MediaFailed) as caught:
        await client.publish_image(
            sku="MUG-1", theme="studio-white", image=b"<html>not an image</html>", filename="a.jpg"
        )
    assert not caught.value.transient
    assert "IMAGE_PROCESSING_FAILURE" in str(caught.value)
    assert fake.media_for("MUG-1", "studio-white") == []


async def test_media_that_never_gets_ready_times_out_transiently(fake: FakeShopify) -> None:
    fake.polls_to_ready = 10_000
    config = config_for(fake, media_ready_timeout_s=0.2)
    async with ShopifyClient(config) as client:
        with pytest.raises(MediaNotReady) as caught:
            await publish(client)
    assert caught.value.transient


async def test_shopify_rejects_a_field_it_does_not_know(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    with pytest.raises(ShopifyQueryError, match="Field 'shopp' doesn't exist on type 'QueryRoot'"):
        await client.graphql.execute("Bad", "query Bad { shopp { name } }")


async def test_concurrent_runs_for_one_sku_and_theme_leave_exactly_one(
    fake: FakeShopify,
) -> None:
    await_first = await _publish_with_own_client(fake)
    results = await asyncio.gather(*(_publish_with_own_client(fake) for _ in range(3)))

    remaining = [m.id for m in fake.media_for("MUG-1", "studio-white")]
    newest = max((r.media_ids[0] for r in results), key=lambda gid: int(gid.rsplit("/", 1)[1]))
    assert remaining == [newest]
    assert await_first.media_ids[0] not in remaining
    assert [m.id for m in fake.variant_media("MUG-1")] == [newest]


async def publish_interrupted(
    fake: FakeShopify, interrupt: Callable[[ShopifyClient], Awaitable[None]]
) -> PublishedImage:
    """Publish with a client of our own; the first time it waits for the image to be
    processed, ``interrupt`` runs once with a second client (another run, a merchant)."""
    interrupted = False
    async with ShopifyClient(config_for(fake)) as other:

        async def interrupt_once(seconds: float) -> None:
            nonlocal interrupted
            if not interrupted:
                interrupted = True
                await interrupt(other)

        async with ShopifyClient(config_for(fake), sleep=interrupt_once) as ours:
            return await publish(ours)


async def test_a_run_replaced_while_its_image_is_processing_reports_the_newer_image(
    fake: FakeShopify,
) -> None:
    # Deterministic version of the race above: while our image is still PROCESSING, a second
    # run for the same (sku, theme) publishes a newer one and deletes ours as older.
    newer: list[PublishedImage] = []

    async def a_newer_run_finishes(other: ShopifyClient) -> None:
        newer.append(await publish(other))

    result = await publish_interrupted(fake, a_newer_run_finishes)
    assert newer, "the newer run ran while ours was processing"
    assert result.superseded
    assert result.media_ids == newer[0].media_ids
    assert [m.id for m in fake.media_for("MUG-1", "studio-white")] == list(newer[0].media_ids)


async def test_media_deleted_while_processing_with_nothing_newer_is_an_error(
    fake: FakeShopify,
) -> None:
    deleted: list[str] = []

    async def someone_deletes_it(other: ShopifyClient) -> None:
        mine = [m.id for m in fake.media_for("MUG-1", "studio-white")]
        deleted.extend(await other.delete_files(mine))

    with pytest.raises(MediaVanished):
        await publish_interrupted(fake, someone_deletes_it)
    assert deleted


async def test_a_merchant_reordering_the_gallery_does_not_protect_old_media(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    first = await publish(client)
    merchant = await client.attach_media(
        first.product_id,
        await client.stage_upload(jpeg_bytes(), filename="m.jpg", mime_type="image/jpeg"),
        alt="Merchant's own photo",
        known_media_ids=set(),
    )
    await client.wait_until_ready(merchant)
    product = fake.product_for_sku("MUG-1")
    assert product is not None
    product.media_ids.reverse()  # the merchant dragged ours to the end

    second = await publish(client)

    assert [m.id for m in fake.media_for("MUG-1", "studio-white")] == list(second.media_ids)
    assert {m.id for m in fake.media_for("MUG-1")} == {*merchant, *second.media_ids}


async def _publish_with_own_client(fake: FakeShopify):  # type: ignore[no-untyped-def]
    async with ShopifyClient(config_for(fake)) as client:
        return await publish(client)


async def test_a_short_outage_is_retried_with_backoff(fake: FakeShopify) -> None:
    fake.fail_next = 2
    async with ShopifyClient(config_for(fake)) as client:
        result = await publish(client)
        assert client.graphql.stats.transient_retries == 2
    assert [m.id for m in fake.media_for("MUG-1", "studio-white")] == list(result.media_ids)


async def test_a_long_outage_is_a_transient_error(fake: FakeShopify) -> None:
    fake.fail_next = 100
    async with ShopifyClient(config_for(fake, max_transient_retries=2)) as client:
        with pytest.raises(ShopifyUnavailable) as caught:
            await client.find_variant("MUG-1")
    assert caught.value.transient and "503" in str(caught.value)
    assert fake.fail_next == 100 - 3


def variant_race(client: ShopifyClient, losses: int) -> list[str]:
    """Make ``client``'s variant calls lose ``losses`` rounds to a concurrent run (it appends
    its own media between our detach and our append), then win; returns what was appended."""
    appended: list[str] = []
    rounds = 0

    async def shown(variant_id: str) -> list[str]:
        return [f"gid://shopify/MediaImage/{900 + rounds}"]  # another run's, each round anew

    async def detach(product_id: str, pairs: object) -> None:
        return None

    async def append(product_id: str, pairs: list[tuple[str, str]]) -> None:
        nonlocal rounds
        rounds += 1
        if rounds <= losses:
            raise ShopifyUserError("productVariantAppendMedia", [FieldError(
                ("variantMedia",), "already has media", "PRODUCT_VARIANT_ALREADY_HAS_MEDIA")])
        appended.extend(media for _, media in pairs)

    client.variant_media_ids = shown  # type: ignore[method-assign]
    client.detach_variant_media = detach  # type: ignore[method-assign]
    client.append_variant_media = append  # type: ignore[method-assign]
    return appended


async def test_a_run_that_loses_the_variant_to_another_waits_a_random_while_and_wins(
    fake: FakeShopify,
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with ShopifyClient(config_for(fake), sleep=record) as client:
        appended = variant_race(client, losses=2)
        await client.set_variant_image("gid://shopify/Product/1", "gid://shopify/ProductVariant/1",
                                       "gid://shopify/MediaImage/1")
    assert appended == ["gid://shopify/MediaImage/1"]
    assert len(waits) == 2, "one wait before each round after a lost one"
    assert 0 <= waits[0] <= RACE_BACKOFF_S and 0 <= waits[1] <= 2 * RACE_BACKOFF_S


async def test_a_run_that_loses_every_round_gives_up_with_a_clear_error(fake: FakeShopify) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with ShopifyClient(config_for(fake), sleep=record) as client:
        variant_race(client, losses=DELETE_ROUNDS)
        with pytest.raises(ShopifyUserError, match="kept changing"):
            await client.set_variant_image("gid://shopify/Product/1",
                                           "gid://shopify/ProductVariant/1",
                                           "gid://shopify/MediaImage/1")
    assert len(waits) == DELETE_ROUNDS - 1
    assert all(0 <= w <= RACE_BACKOFF_S * 2**i for i, w in enumerate(waits))
