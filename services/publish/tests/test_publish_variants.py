"""The publish step puts each job's image on the variant its SKU names, with alt text from the
theme's template or the job's own, and a re-publish replaces what the job published before
(issue 20). Runs the real step against the fake Shopify over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth_publish.handler import ShopifyClients
from plinth_testkit.fakes.shopify import FakeShopify

from .test_publish_handler import harness, pushed_job, shopify_settings


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(polls_to_ready=2) as server:
        server.add_product("Blue Mug", ["MUG-1", "MUG-1-LARGE"])
        yield server


def ids(media: list) -> list[str]:  # type: ignore[type-arg]
    return [m.id for m in media]


def republished(done: Job, **update: object) -> Job:
    """The job back at SHOPIFY_PUSH as after a touch-up: its shopify result kept."""
    return done.model_copy(update={"status": JobStatus.SHOPIFY_PUSH, **update})


async def test_two_variants_of_one_product_each_get_their_own_image(
    fake: FakeShopify, clients: ShopifyClients
) -> None:
    h = harness(shopify_settings(fake), clients)

    small = await h.run(pushed_job(sku="MUG-1", sha="a" * 64))
    large = await h.run(pushed_job(sku="MUG-1-LARGE", sha="b" * 64))

    assert small.status is JobStatus.DONE and large.status is JobStatus.DONE
    assert small.shopify and large.shopify
    assert small.shopify.product_id == large.shopify.product_id
    assert ids(fake.variant_media("MUG-1")) == small.shopify.media_ids
    assert ids(fake.variant_media("MUG-1-LARGE")) == large.shopify.media_ids
    assert small.shopify.media_ids != large.shopify.media_ids
    variants = {small.provider_metadata["shopify"]["variant_id"],
                large.provider_metadata["shopify"]["variant_id"]}  # fmt: skip
    assert len(variants) == 2


async def test_republishing_a_job_replaces_its_media_even_when_shopify_alt_was_edited(
    fake: FakeShopify, clients: ShopifyClients
) -> None:
    h = harness(shopify_settings(fake), clients)
    done = await h.run(pushed_job())
    assert done.shopify
    # a merchant rewrote the alt text in Shopify's admin: Plinth's marker is gone from it
    for media in fake.media_for("MUG-1"):
        media.alt = "Blue mug, merchant's words"

    again = await h.run(republished(done))

    assert again.status is JobStatus.DONE and again.shopify
    assert again.shopify.media_ids != done.shopify.media_ids
    assert ids(fake.media_for("MUG-1")) == again.shopify.media_ids  # no pile-up
    assert ids(fake.variant_media("MUG-1")) == again.shopify.media_ids
    assert again.provider_metadata["shopify"]["replaced_media_ids"] == done.shopify.media_ids


async def test_alt_text_comes_from_the_packaged_themes_template_or_the_job(
    fake: FakeShopify, clients: ShopifyClients
) -> None:
    h = harness(shopify_settings(fake), clients)

    templated = await h.run(pushed_job(theme="default"))
    assert templated.provider_metadata["shopify"]["alt"] == (
        "Blue Mug – Studio white sweep [plinth:MUG-1/default]"
    )
    assert templated.provider_metadata["shopify"]["alt_from"] == "theme"

    edited = await h.run(republished(templated, alt_text="A blue mug on white paper"))
    alt = "A blue mug on white paper [plinth:MUG-1/default]"
    assert edited.provider_metadata["shopify"]["alt"] == alt
    assert edited.provider_metadata["shopify"]["alt_from"] == "job"
    assert [m.alt for m in fake.media_for("MUG-1")] == [alt]


async def test_a_theme_that_cannot_be_found_still_publishes_with_the_default_template(
    fake: FakeShopify, clients: ShopifyClients
) -> None:
    h = harness(shopify_settings(fake), clients)

    done = await h.run(pushed_job(theme="not-packaged"))

    assert done.status is JobStatus.DONE
    assert done.provider_metadata["shopify"]["alt"] == (
        "Blue Mug – not packaged [plinth:MUG-1/not-packaged]"
    )
