"""The background service: BG_REMOVED -> BACKGROUND_READY.

Renders N variants of the job's theme (``PLINTH_BACKGROUND_VARIANTS``, else the theme's own
count) at the composite canvas size, procedurally (deterministic per theme and variant) or, with
``PLINTH_BACKGROUND_MODE=ai``, with Freepik's image generation from the theme's prompt.
Procedural renders are kept in the process's LRU (``PLINTH_BACKGROUND_CACHE_MB``): each job's
objects are still stored under its own keys, but each background is rendered once per worker.
"""

from __future__ import annotations

from plinth.adapters.themes import load_job_theme
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.imaging.backgrounds import Theme
from plinth.imaging.composite import DEFAULT_CANVAS
from plinth.imaging.types import RGB
from plinth.keys import background_key
from plinth.settings import BackgroundSettings, FreepikSettings
from plinth.stages import (
    BackgroundGenerator,
    background_cache,
    procedural_background,
    render_backgrounds,
)
from plinth.worker import StageContext, StageResult, Step, run_stage_service
from plinth.worker.errors import PermanentStageError
from plinth_background.settings import BackgroundWorkerSettings


def variant_count(theme: Theme, settings: BackgroundSettings) -> int:
    return min(settings.background_variants or theme.variants, theme.variants)


def render_ai(theme: Theme, variant: int, size: tuple[int, int],
              settings: FreepikSettings) -> tuple[RGB, float]:
    from plinth.vendors.freepik.backgrounds import FreepikBackgroundGenerator

    if settings.freepik_api_key is None:
        raise PermanentStageError("provider_not_configured",
                                  "background mode ai needs PLINTH_FREEPIK_API_KEY")
    generator = FreepikBackgroundGenerator(
        settings.freepik_api_key.get_secret_value(), base_url=settings.freepik_base_url,
        unit_price_usd=settings.freepik_mystic_price_usd or None)
    try:
        generated = generator.generate_for_theme(theme, variant, size)
    finally:
        generator.close()
    return generated.rgb, generated.cost_usd


def generator_for(settings: BackgroundWorkerSettings) -> BackgroundGenerator:
    if settings.background_mode == "ai":
        return lambda theme, variant, size: render_ai(theme, variant, size, settings)
    return procedural_background


async def backgrounds(job: Job, ctx: StageContext[BackgroundWorkerSettings]) -> StageResult:
    if job.img_sha256 is None:
        raise PermanentStageError("missing_original", "the job has no image hash")
    # The version the job recorded at ingest; the packaged theme for jobs older than that.
    theme = await load_job_theme(ctx.db, job.theme, job.theme_version)
    rendered = await ctx.to_thread(
        render_backgrounds, theme, variant_count(theme, ctx.settings),
        canvas=DEFAULT_CANVAS, generator=generator_for(ctx.settings),
        cache=background_cache(ctx.settings.background_cache_mb),
    )
    artefacts = {
        background_key(job.theme, job.sku, job.img_sha256, variant): item.jpeg
        for variant, item in enumerate(rendered)
    }
    cost = sum(item.cost_usd for item in rendered)
    return StageResult(
        changes={"s3_background_keys": list(artefacts)},
        artefacts=artefacts,
        cost_usd={"backgrounds": cost} if cost else {},
        attributes={"provider": ctx.settings.background_mode, "variants": len(artefacts)},
    )


STEPS = [Step(Stage.BACKGROUND, JobStatus.BG_REMOVED, JobStatus.BACKGROUND_READY, backgrounds)]


def main() -> None:
    run_stage_service(Stage.BACKGROUND, STEPS, service_name="plinth-background",
                      settings=BackgroundWorkerSettings)


if __name__ == "__main__":
    main()
