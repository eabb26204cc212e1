"""The background step: N deterministic variants per theme at the seed keys."""

from __future__ import annotations

import io

import pytest
from opentelemetry.trace import INVALID_SPAN
from PIL import Image

from plinth.domain.job import Job
from plinth.imaging.errors import ThemeError
from plinth.worker import StageContext
from plinth.worker.errors import classify
from plinth_background.main import backgrounds
from plinth_background.settings import BackgroundWorkerSettings

SHA = "e" * 64


class NoBlobs:
    async def get(self, key: str) -> bytes:
        raise AssertionError("the background step reads nothing")

    async def presign_get(self, key: str, ttl_s: int | None = None) -> str:
        raise AssertionError("the background step signs nothing")


def context(**settings: object) -> StageContext[BackgroundWorkerSettings]:
    return StageContext(BackgroundWorkerSettings(**settings), NoBlobs(), INVALID_SPAN, "t")  # type: ignore[arg-type]


def job(theme: str = "warm_paper") -> Job:
    return Job(sku="SKU-B", theme=theme, image_url="https://x/a.jpg", img_sha256=SHA)


async def test_variants_are_rendered_at_their_keys_and_are_deterministic() -> None:
    first = await backgrounds(job(), context(background_variants=2))
    keys = [f"backgrounds/warm_paper/SKU-B/{SHA}_{i}.jpg" for i in (0, 1)]
    assert first.changes == {"s3_background_keys": keys}
    assert list(first.artefacts) == keys
    image = Image.open(io.BytesIO(first.artefacts[keys[0]]))
    assert (image.format, image.size) == ("JPEG", (2000, 2000))
    assert first.artefacts[keys[0]] != first.artefacts[keys[1]], "variants differ"
    again = await backgrounds(job(), context(background_variants=2))
    assert again.artefacts == first.artefacts, "a redelivery rewrites identical objects"


async def test_an_unknown_theme_fails_permanently() -> None:
    with pytest.raises(ThemeError) as caught:
        await backgrounds(job("no-such-theme"), context(background_variants=1))
    assert classify(caught.value).permanent


async def test_a_second_job_of_the_theme_is_served_from_the_cache() -> None:
    from plinth.stages import background_cache

    cache = background_cache(7)  # its own bound: a cache no other test shares
    cache.clear()
    first = await backgrounds(job(), context(background_variants=2, background_cache_mb=7))
    hits = cache.stats.hits
    other = Job(sku="SKU-C", theme="warm_paper", image_url="https://x/b.jpg", img_sha256="f" * 64)
    second = await backgrounds(other, context(background_variants=2, background_cache_mb=7))
    assert cache.stats.hits == hits + 2
    # Still stored under the second job's own deterministic keys, same bytes.
    assert list(second.artefacts) == [f"backgrounds/warm_paper/SKU-C/{'f' * 64}_{i}.jpg"
                                      for i in (0, 1)]
    assert list(second.artefacts.values()) == list(first.artefacts.values())
