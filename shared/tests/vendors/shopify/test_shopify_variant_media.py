"""The image on the variant the SKU names, alt text from templates, and alt edits (issue 20),
against the fake Shopify over real HTTP."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from plinth.imaging.backgrounds.model import Theme
from plinth.imaging.backgrounds.themes import load_theme
from plinth.vendors.shopify import ShopifyClient, ShopifyUserError
from plinth.vendors.shopify.errors import MediaNotReady
from plinth.vendors.shopify.media import alt_marker
from plinth_testkit.fakes.shopify import FakeShopify

from .conftest import config_for, jpeg_bytes


async def publish(client: ShopifyClient, sku: str, theme: str = "studio-white", **kw: object):  # type: ignore[no-untyped-def]
    return await client.publish_image(
        sku=sku, theme=theme, image=jpeg_bytes(), filename="0_hero.jpg", **kw
    )


def ids(media: list) -> list[str]:  # type: ignore[type-arg]
    return [m.id for m in media]


async def test_two_variants_of_one_product_each_get_their_own_image(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    small = await publish(client, "MUG-1")
    large = await publish(client, "MUG-1-LARGE")

    assert small.product_id == large.product_id  # one product, two variants
    assert small.variant_id != large.variant_id
    assert ids(fake.variant_media("MUG-1")) == list(small.media_ids)
    assert ids(fake.variant_media("MUG-1-LARGE")) == list(large.media_ids)
    assert small.media_ids != large.media_ids
    assert set(ids(fake.media_for("MUG-1"))) == {*small.media_ids, *large.media_ids}
    assert all(m.status == "READY" for m in fake.variant_media("MUG-1"))


async def test_republishing_replaces_the_variant_image_and_the_old_media(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    first = await publish(client, "MUG-1")
    second = await publish(client, "MUG-1", replace_media_ids=first.media_ids)

    assert ids(fake.variant_media("MUG-1")) == list(second.media_ids)
    assert ids(fake.media_for("MUG-1")) == list(second.media_ids)
    assert second.removed_media_ids == first.media_ids


async def test_media_the_job_published_is_replaced_even_after_its_alt_was_edited_in_shopify(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    first = await publish(client, "MUG-1")
    await client.update_alt(first.media_ids, "A merchant's words, no marker")
    second = await publish(client, "MUG-1", replace_media_ids=first.media_ids)

    assert ids(fake.media_for("MUG-1")) == list(second.media_ids)
    assert second.removed_media_ids == first.media_ids


async def test_a_merchants_variant_image_is_detached_but_kept_on_the_product(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    theirs = fake.add_ready_media("MUG-1", alt="Merchant's photo")
    variant = await client.find_variant("MUG-1")
    await client.append_variant_media(variant.product_id, [(variant.variant_id, theirs.id)])
    assert ids(fake.variant_media("MUG-1")) == [theirs.id]

    result = await publish(client, "MUG-1")

    assert ids(fake.variant_media("MUG-1")) == list(result.media_ids)
    assert result.detached_media_ids == (theirs.id,)
    assert theirs.id in ids(fake.media_for("MUG-1"))


async def test_the_fake_refuses_a_second_media_on_a_variant(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    one, two = fake.add_ready_media("MUG-1"), fake.add_ready_media("MUG-1")
    variant = await client.find_variant("MUG-1")
    await client.append_variant_media(variant.product_id, [(variant.variant_id, one.id)])
    with pytest.raises(ShopifyUserError) as caught:
        await client.append_variant_media(variant.product_id, [(variant.variant_id, two.id)])
    assert [e.code for e in caught.value.errors] == ["PRODUCT_VARIANT_ALREADY_HAS_MEDIA"]


async def test_non_ready_media_is_refused_then_waited_out(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    variant = await client.find_variant("MUG-1")
    source = await client.stage_upload(jpeg_bytes(), filename="a.jpg", mime_type="image/jpeg")
    (media_id,) = await client.attach_media(
        variant.product_id, source, alt="x", known_media_ids=set()
    )
    # Shopify's own answer first: straight after attaching, the media is not READY
    raw = await client.graphql.execute(
        "Raw",
        "mutation Raw($p: ID!, $vm: [ProductVariantAppendMediaInput!]!) {"
        " productVariantAppendMedia(productId: $p, variantMedia: $vm) {"
        " userErrors { code field message } } }",
        {
            "p": variant.product_id,
            "vm": [{"variantId": variant.variant_id, "mediaIds": [media_id]}],
        },
    )
    assert [e["code"] for e in raw["productVariantAppendMedia"]["userErrors"]] == [
        "NON_READY_MEDIA"
    ]
    fake.served.clear()

    await client.append_variant_media(variant.product_id, [(variant.variant_id, media_id)])

    assert ids(fake.variant_media("MUG-1")) == [media_id]
    operations = [s.operation for s in fake.served]
    assert operations[0] == "PlinthAppendVariantMedia"  # refused: NON_READY_MEDIA
    assert "PlinthMediaStatus" in operations
    assert operations[-1] == "PlinthAppendVariantMedia"  # accepted once READY


async def test_media_that_never_gets_ready_is_a_transient_error_when_appending(
    fake: FakeShopify,
) -> None:
    fake.polls_to_ready = 10_000
    async with ShopifyClient(config_for(fake, media_ready_timeout_s=0.1)) as client:
        variant = await client.find_variant("MUG-1")
        source = await client.stage_upload(jpeg_bytes(), filename="a.jpg", mime_type="image/jpeg")
        (media_id,) = await client.attach_media(
            variant.product_id, source, alt="x", known_media_ids=set()
        )
        with pytest.raises(MediaNotReady) as caught:
            await client.append_variant_media(variant.product_id, [(variant.variant_id, media_id)])
    assert caught.value.transient
    assert fake.variant_media("MUG-1") == []


async def test_more_than_100_pairs_go_in_calls_of_at_most_100(fake: FakeShopify) -> None:
    skus = [f"TEE-{i:03d}" for i in range(150)]
    fake.add_product("Tee", skus)
    media = [fake.add_ready_media("TEE-000") for _ in skus]
    async with ShopifyClient(config_for(fake)) as client:
        variants = [await client.find_variant(sku) for sku in skus]
        product_id = variants[0].product_id
        pairs = [(v.variant_id, m.id) for v, m in zip(variants, media, strict=True)]

        # the fake keeps Shopify's limit: 101 pairs in one call are refused whole
        raw = await client.graphql.execute(
            "Raw",
            "mutation Raw($p: ID!, $vm: [ProductVariantAppendMediaInput!]!) {"
            " productVariantAppendMedia(productId: $p, variantMedia: $vm) {"
            " userErrors { code } } }",
            {"p": product_id, "vm": [{"variantId": v, "mediaIds": [m]} for v, m in pairs[:101]]},
        )
        assert [e["code"] for e in raw["productVariantAppendMedia"]["userErrors"]] == [
            "MAXIMUM_VARIANT_MEDIA_PAIRS_EXCEEDED"
        ]
        assert all(fake.variant_media(sku) == [] for sku in skus)
        fake.served.clear()

        await client.append_variant_media(product_id, pairs)

    appends = [s for s in fake.served if s.operation == "PlinthAppendVariantMedia"]
    assert len(appends) == 2
    assert [ids(fake.variant_media(sku)) for sku in skus] == [[m.id] for m in media]


async def test_alt_text_from_the_theme_template_or_the_jobs_own(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    templated = await publish(
        client, "MUG-1", alt_template="{title} ({theme}, {sku})", theme_title="Studio White"
    )
    assert templated.alt == "Blue Mug (Studio White, MUG-1) " + alt_marker("MUG-1", "studio-white")

    edited = await publish(
        client, "MUG-1", alt_template="{title}", alt_override="A blue mug, handle left"
    )
    assert edited.alt == "A blue mug, handle left " + alt_marker("MUG-1", "studio-white")
    assert [m.alt for m in fake.media_for("MUG-1")] == [edited.alt]


async def test_update_alt_changes_the_published_media(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    result = await publish(client, "MUG-1")
    updated = await client.update_alt(result.media_ids, "New words [plinth:MUG-1/studio-white]")
    assert updated == list(result.media_ids)
    assert fake.media_for("MUG-1")[0].alt == "New words [plinth:MUG-1/studio-white]"

    with pytest.raises(ShopifyUserError) as caught:
        await client.update_alt(["gid://shopify/MediaImage/999999"], "x")
    assert [e.code for e in caught.value.errors] == ["FILE_DOES_NOT_EXIST"]


def test_theme_template_placeholders_are_checked() -> None:
    base = load_theme("default").model_dump()
    assert Theme.model_validate(base).alt_text_template == "{title} – {theme}"
    ok = Theme.model_validate({**base, "alt_text_template": "{title} ({theme}, {sku}) {{x}}"})
    assert ok.alt_text_template.startswith("{title}")
    for bad, words in [
        ("{title} for {price}", "unknown placeholder {price}"),
        ("{0} {title}", "unknown placeholder {0}"),
        ("{title!r}", "must be plain"),
        ("{title", "not a valid template"),
        ("   ", "must not be blank"),
    ]:
        with pytest.raises(ValidationError) as caught:
            Theme.model_validate({**base, "alt_text_template": bad})
        message = str(caught.value)
        assert "alt_text_template" in message and words in message, message
        assert "{sku}, {title}, {theme}" in message or words != "unknown placeholder {price}"
