"""The manifest step's review hold: under the threshold (the theme's, else the global one) the job
is held IN_REVIEW with the manifest stored; otherwise it goes on to publish as before."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.trace import INVALID_SPAN

from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth.imaging.backgrounds import Theme, load_theme
from plinth.worker import StageContext
from plinth_derive import manifest_step
from plinth_derive.manifest_step import manifest
from plinth_derive.review import DEFAULT_REVIEW_THRESHOLD, ReviewSettings, review_settings

SHA = "1" * 64


class Settings(ReviewSettings):
    background_mode: str = "local"


class Blobs:
    async def presign_get(self, key: str, ttl_s: int | None = None) -> str:
        return f"https://s3.test/{key}?signed"


def derived(confidence: float | None, theme: str = "default") -> Job:
    keys = [f"derivatives/{theme}/SKU-R/{SHA}/0_{size}.{fmt}" for size in ("hero", "pdp", "thumb")
            for fmt in ("jpg", "webp", "avif")]
    files = [{"variant": 0, "size": k.rsplit("_", 1)[1].split(".")[0],
              "format": k.rsplit(".", 1)[1], "width": 100, "height": 100, "bytes": 10}
             for k in keys]
    return Job(sku="SKU-R", theme=theme, image_url="https://x/a.jpg", img_sha256=SHA,
               status=JobStatus.DERIVATIVES, s3_original_key=f"originals/SKU-R/{SHA}.jpg",
               s3_cutout_key=f"cutouts/SKU-R/{SHA}.png", s3_mask_key=f"masks/SKU-R/{SHA}.png",
               s3_background_keys=[f"backgrounds/{theme}/SKU-R/{SHA}_0.jpg"],
               s3_composite_keys=[f"composites/{theme}/SKU-R/{SHA}_0.jpg"],
               s3_derivative_keys=keys, segment_confidence=confidence,
               provider_metadata={"derivatives": files})


def ctx(settings: Any) -> StageContext:  # type: ignore[type-arg]
    return StageContext(settings, Blobs(), INVALID_SPAN, "t")  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def fresh_env_settings() -> Iterator[None]:
    review_settings.cache_clear()
    yield
    review_settings.cache_clear()


async def test_a_doubtful_cut_out_is_held_with_the_manifest_stored() -> None:
    result = await manifest(derived(0.31), ctx(Settings(review_threshold=0.5)))
    assert result.target is JobStatus.IN_REVIEW
    review = result.changes["review"]
    assert (review.confidence, review.threshold, review.decision) == (0.31, 0.5, None)
    assert review.reason == "cut-out confidence 0.31 is under 0.50"
    key = f"manifests/SKU-R/{SHA}-default.json"
    assert result.changes["manifest_s3_key"] == key and key in result.artefacts
    assert result.attributes["review.held"] is True
    assert result.note == "held for review: cut-out confidence 0.31 is under 0.50"


@pytest.mark.parametrize(
    ("confidence", "threshold", "held"),
    [(0.9, 0.5, False), (0.5, 0.5, False), (0.49, 0.5, True), (0.0, 0.0, False),
     (0.99, 1.0, True), (None, 0.5, False), (None, 1.0, True)],
)
async def test_the_threshold_decides(
    confidence: float | None, threshold: float, held: bool
) -> None:
    result = await manifest(derived(confidence), ctx(Settings(review_threshold=threshold)))
    assert (result.target is JobStatus.IN_REVIEW) is held
    assert ("review" in result.changes) is held
    assert result.changes["manifest_s3_key"]


def themes(theme: Theme):  # type: ignore[no-untyped-def]
    async def load(db: object, name: str, version: int | None) -> Theme:
        assert (name, version) == ("default", 3)
        return theme

    return load


async def test_the_theme_threshold_wins_over_the_global_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    strict = load_theme("default").model_copy(update={"review_threshold": 0.95})
    monkeypatch.setattr(manifest_step, "load_job_theme", themes(strict))
    job = derived(0.9).model_copy(update={"theme_version": 3})
    result = await manifest(job, ctx(Settings(review_threshold=0.2)))
    assert result.target is JobStatus.IN_REVIEW
    assert result.changes["review"].threshold == 0.95
    lenient = strict.model_copy(update={"review_threshold": 0.0})
    monkeypatch.setattr(manifest_step, "load_job_theme", themes(lenient))
    job = derived(0.1).model_copy(update={"theme_version": 3})
    assert (await manifest(job, ctx(Settings(review_threshold=1.0)))).target is None


async def test_an_unknown_theme_uses_the_global_threshold() -> None:
    job = derived(0.4, theme="no-such-theme")
    assert (await manifest(job, ctx(Settings(review_threshold=0.5)))).target is JobStatus.IN_REVIEW
    assert (await manifest(job, ctx(Settings(review_threshold=0.3)))).target is None


async def test_without_composed_review_settings_the_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = SimpleNamespace(background_mode="local")
    monkeypatch.delenv("PLINTH_REVIEW_THRESHOLD", raising=False)
    assert review_settings().review_threshold == DEFAULT_REVIEW_THRESHOLD
    review_settings.cache_clear()
    monkeypatch.setenv("PLINTH_REVIEW_THRESHOLD", "0.8")
    assert (await manifest(derived(0.7), ctx(plain))).target is JobStatus.IN_REVIEW
    review_settings.cache_clear()
    monkeypatch.setenv("PLINTH_REVIEW_THRESHOLD", "0")
    assert (await manifest(derived(0.01), ctx(plain))).target is None


def test_the_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="review_threshold"):
        ReviewSettings(review_threshold=1.5)
