"""The whole chain in-process, for the ``plinth`` command line: one photo, one or more themes,
every artefact under its S3 key, with per-stage timings. No servers are involved."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from plinth import keys
from plinth.imaging.backgrounds import Theme
from plinth.imaging.manifest import (
    DerivativeInfo,
    SourceInfo,
    build_manifest,
    manifest_json,
    validate_manifest,
)
from plinth.imaging.segment.base import SegmentProvider
from plinth.stages import composite_photos, derive_files, render_backgrounds, segment_photo

STEP_NAMES = ("segmentation", "backgrounds", "compositing", "derivatives", "manifest")


@dataclass
class PhotoRun:
    """Everything one photo produced: artefacts by S3 key, timings and cost."""

    sku: str
    sha256: str
    artefacts: dict[str, bytes] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    cost_usd: dict[str, float] = field(default_factory=dict)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    """theme -> manifest document"""

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.timings_ms[step] = self.timings_ms.get(step, 0.0) + elapsed


def run_photo(
    original: bytes,
    *,
    sku: str,
    themes: Sequence[Theme],
    provider: SegmentProvider,
    variants: int | None = None,
    max_pixels: int = 80_000_000,
    max_bytes: int = 60 * 1024 * 1024,
    on_step: Callable[[str], None] | None = None,
) -> PhotoRun:
    """Run every stage for one photo. Raises the stages' typed errors unchanged."""
    keys.validate_sku(sku)
    sha256 = hashlib.sha256(original).hexdigest()
    run = PhotoRun(sku=sku, sha256=sha256)
    run.artefacts[keys.original_key(sku, sha256)] = original

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    step("segmentation")
    with run.timed("segmentation"):
        cut = segment_photo(original, provider, max_pixels=max_pixels, max_bytes=max_bytes)
    run.artefacts[keys.cutout_key(sku, sha256)] = cut.cutout_png
    run.artefacts[keys.mask_key(sku, sha256)] = cut.mask_png
    if cut.cost_usd:
        run.cost_usd["segmentation"] = cut.cost_usd

    for theme in themes:
        count = min(variants or theme.variants, theme.variants)
        step(f"backgrounds:{theme.name}")
        with run.timed("backgrounds"):
            backgrounds = [bg.jpeg for bg in render_backgrounds(theme, count)]
        for idx, jpeg in enumerate(backgrounds):
            run.artefacts[keys.background_key(theme.name, sku, sha256, idx)] = jpeg

        step(f"compositing:{theme.name}")
        with run.timed("compositing"):
            composites = composite_photos(cut.cutout_png, backgrounds, theme)
        for idx, jpeg in enumerate(composites):
            run.artefacts[keys.composite_key(theme.name, sku, sha256, idx)] = jpeg

        step(f"derivatives:{theme.name}")
        with run.timed("derivatives"):
            files = derive_files(composites)
        for item in files:
            key = keys.derivative_key(theme.name, sku, sha256, item.variant, item.size, item.fmt)
            run.artefacts[key] = item.data

        step(f"manifest:{theme.name}")
        with run.timed("manifest"):
            doc = build_manifest(
                sku=sku,
                sha256=sha256,
                theme=theme.name,
                background_indices=range(len(backgrounds)),
                composite_indices=range(len(composites)),
                derivatives=[
                    DerivativeInfo(item.variant, item.size, item.fmt, item.width, item.height,
                                   len(item.data))
                    for item in files
                ],
                timings_ms={f"{name}_ms": round(ms) for name, ms in run.timings_ms.items()},
                costs_usd=run.cost_usd,
                source=SourceInfo(cut.width, cut.height, cut.source_format, len(original)),
                segmentation_provider=cut.provider,
            )
            validate_manifest(doc)
        run.manifests[theme.name] = doc
        run.artefacts[keys.manifest_key(sku, sha256, theme.name)] = manifest_json(doc)
    return run
