"""The pipeline's stages at the level of stored artefacts: encoded bytes in, encoded bytes out.

Each function here is what one service does between loading its inputs from S3 and storing its
outputs; the ``plinth`` command line runs the same functions in-process. They are pure of Kafka,
MongoDB and S3; only a vendor provider (Freepik) does HTTP inside.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Final

from PIL import Image

from plinth.imaging.backgrounds import Theme, render_background
from plinth.imaging.backgrounds.cache import ByteBoundedLRU, theme_version
from plinth.imaging.composite import (
    DEFAULT_CANVAS,
    PreparedCutout,
    apply_composite,
    prepare_composite,
)
from plinth.imaging.decode import (
    DecodedImage,
    decode_image,
    decode_rgba,
    encode_jpeg,
    encode_png,
)
from plinth.imaging.derivatives import FormatName, SizeName, submit_derivatives
from plinth.imaging.segment.base import Segmentation, SegmentProvider
from plinth.imaging.types import RGB

BackgroundGenerator = Callable[[Theme, int, tuple[int, int]], tuple[RGB, float]]
"""Makes background ``variant`` of a theme at a size; returns the pixels and what it cost."""


@dataclass(frozen=True)
class CutoutResult:
    """The segment stage's artefacts and what it learned about the photo."""

    cutout_png: bytes
    mask_png: bytes
    provider: str
    cost_usd: float
    width: int
    height: int
    source_format: str
    meta: dict[str, Any] = field(default_factory=dict)


def segment_photo(
    original: bytes,
    provider: SegmentProvider,
    *,
    image_url: str | None = None,
    max_pixels: int = 80_000_000,
    max_bytes: int = 60 * 1024 * 1024,
) -> CutoutResult:
    """Decode ``original`` safely and cut the product out of it.

    Providers that fetch by URL (Freepik) are given ``image_url`` when the caller has one (the
    services lend a presigned URL of the stored original) instead of re-uploading the pixels.
    """
    decoded: DecodedImage = decode_image(original, max_pixels=max_pixels, max_bytes=max_bytes)
    segment_url = getattr(provider, "segment_url", None)
    result: Segmentation
    if image_url is not None and callable(segment_url) and _fetchable_as_is(original, decoded):
        result = segment_url(image_url, size=(decoded.width, decoded.height))
    else:
        result = provider.segment(decoded.rgb)
    return CutoutResult(
        cutout_png=encode_png(result.cutout),
        mask_png=encode_png(result.mask),
        provider=result.provider,
        cost_usd=result.cost_usd,
        width=decoded.width,
        height=decoded.height,
        source_format=decoded.format,
        meta=dict(result.meta),
    )


_URL_FORMATS = frozenset({"JPEG", "PNG"})
"""What Freepik's remove-background reads from a URL; anything else is sent as decoded pixels."""
_EXIF_ORIENTATION = 0x0112


def _fetchable_as_is(original: bytes, decoded: DecodedImage) -> bool:
    """True when a vendor fetching the raw original sees the same upright pixels we decoded:
    a JPEG or PNG with no EXIF rotation (a vendor would ignore or misapply it)."""
    if decoded.format not in _URL_FORMATS:
        return False
    with Image.open(io.BytesIO(original)) as image:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1)) == 1


@dataclass(frozen=True)
class BackgroundResult:
    jpeg: bytes
    cost_usd: float = 0.0


def procedural_background(theme: Theme, variant: int, size: tuple[int, int]) -> tuple[RGB, float]:
    return render_background(theme, variant, size), 0.0


BackgroundCache = ByteBoundedLRU[BackgroundResult]


def background_cache(max_mb: int | None = None) -> BackgroundCache:
    """The process's cache of procedural backgrounds, bounded by ``max_mb`` MiB, default the
    ``PLINTH_BACKGROUND_CACHE_MB`` setting (see :mod:`plinth.imaging.backgrounds.cache`); the
    background service and the in-process pipeline both use it."""
    if max_mb is None:
        from plinth.settings import BackgroundSettings

        max_mb = BackgroundSettings().background_cache_mb
    return _background_cache(max_mb)


@lru_cache(maxsize=4)
def _background_cache(max_mb: int) -> BackgroundCache:
    return ByteBoundedLRU(max_mb * 1024 * 1024, sizeof=lambda item: len(item.jpeg))


def render_backgrounds(
    theme: Theme,
    count: int,
    *,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
    generator: BackgroundGenerator = procedural_background,
    cache: BackgroundCache | None = None,
) -> list[BackgroundResult]:
    """Backgrounds ``0..count-1`` of ``theme`` as JPEG, deterministic per (theme, variant).

    Procedural ones come from ``cache`` (default: :func:`background_cache`), keyed by the
    theme's name and version, the variant and the canvas; other generators (the AI one is
    neither free nor deterministic) always run.
    """
    if generator is not procedural_background:
        return [_render_one(theme, variant, canvas, generator) for variant in range(count)]
    store = background_cache() if cache is None else cache
    version = theme_version(theme)
    return [
        store.get_or_make(
            ("procedural", theme.name, version, variant, canvas),
            partial(_render_one, theme, variant, canvas, generator),
        )
        for variant in range(count)
    ]


def _render_one(
    theme: Theme, variant: int, canvas: tuple[int, int], generator: BackgroundGenerator
) -> BackgroundResult:
    rgb, cost = generator(theme, variant, canvas)
    return BackgroundResult(jpeg=encode_jpeg(rgb), cost_usd=cost)


def composite_photos(cutout_png: bytes, backgrounds: Sequence[bytes], theme: Theme) -> list[bytes]:
    """The cutout set on each background with the theme's layout and shadow, as JPEG.

    The cutout's share of the work (crop, resampling, placement, shadows) depends only on the
    cutout, the theme and the canvas size, so it is done once per canvas size and applied to
    every background variant (same bytes as compositing each from scratch).
    """
    cutout = decode_rgba(cutout_png)
    prepared: dict[tuple[int, int], PreparedCutout] = {}
    out = []
    for background in backgrounds:
        rgb = decoded_background(background)
        canvas = (rgb.shape[1], rgb.shape[0])
        if canvas not in prepared:
            prepared[canvas] = prepare_composite(cutout, canvas, theme)
        out.append(encode_jpeg(apply_composite(prepared[canvas], rgb)))
    return out


DECODED_BACKGROUNDS_MB: Final = 96
"""Decoded backgrounds a process keeps (8 of 2000x2000). Every job of a theme composites on
the same few background JPEGs (they are deterministic per theme version, variant and size), so
the composite stage decodes each once instead of once per job (~0.02 CPU-s per variant)."""
_decoded_backgrounds: Final = ByteBoundedLRU[RGB](
    DECODED_BACKGROUNDS_MB * 1024 * 1024, sizeof=lambda rgb: rgb.nbytes
)


def decoded_background(jpeg: bytes) -> RGB:
    """The pixels of a background JPEG, from the process's cache when the same bytes were
    decoded before (keyed by their digest, so any other bytes are a miss). Read-only: the
    array may be shared with other jobs."""
    return _decoded_backgrounds.get_or_make(
        hashlib.blake2b(jpeg, digest_size=16).digest(), partial(_decode_read_only, jpeg)
    )


def _decode_read_only(jpeg: bytes) -> RGB:
    rgb = decode_image(jpeg).rgb
    rgb.flags.writeable = False
    return rgb


@dataclass(frozen=True)
class DerivativeFile:
    """One storefront file rendered from composite ``variant``."""

    variant: int
    size: SizeName
    fmt: FormatName
    width: int
    height: int
    data: bytes
    content_type: str


def derive_files(
    composites: Sequence[bytes], *, executor: ThreadPoolExecutor | None = None
) -> list[DerivativeFile]:
    """The nine derivatives of every composite (variant = the composite's index).

    Each composite is resized once per size and its nine encodes run on ``executor`` (default:
    the process's :func:`encoder_pool`; the derive service keeps its own); the next composite
    is decoded and resized while the previous one's are encoded.
    """
    pool = executor or encoder_pool()
    pending = [submit_derivatives(decode_image(jpeg).rgb, pool) for jpeg in composites]
    files: list[DerivativeFile] = []
    for variant, collect in enumerate(pending):
        for item in collect():
            files.append(
                DerivativeFile(
                    variant=variant,
                    size=item.size,
                    fmt=item.fmt,
                    width=item.width,
                    height=item.height,
                    data=item.data,
                    content_type=item.content_type,
                )
            )
    return files


@lru_cache(maxsize=1)
def encoder_pool() -> ThreadPoolExecutor:
    """One encoder pool for the process: the encoders release the GIL, a thread per core."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="encode")
