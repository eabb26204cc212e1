"""Stage 5: the nine storefront files per composite (3 sizes x JPEG/WebP/AVIF).

Sizes
    ``hero``  long side exactly 2000 px, aspect kept (no padding).
    ``pdp``   1200x1200.  ``thumb`` 400x400.

Fit/pad rule for the square sizes: the composite is scaled to fit INSIDE the square (aspect kept,
so nothing is cropped), then any leftover band is padded by replicating the composite's own edge
pixels outwards (OpenCV ``BORDER_REPLICATE``): each padded row/column takes the background's
edge colour at that row/column, so a gradient or sweep continues without a seam where a flat
fill colour would show a visible step. Composites are square by default, so usually there is no
padding at all.

Resampling is done once in linear light (area averaging: exact box integration, no ringing,
right for reductions), then each size is encoded to the three formats on a thread pool: Pillow's
JPEG, WebP and AVIF encoders release the GIL, so encodes of different files run truly parallel.

Encoder settings come from ``bench/derivatives_bench.py`` (SSIMULACRA2-matched against a libvips
reference); the table and the reasoning are in ``bench/README.md``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final

import cv2
import numpy as np
from PIL import Image

from plinth.imaging.colour import to_linear, to_srgb8
from plinth.imaging.decode import save_jpeg
from plinth.imaging.types import RGB
from plinth.keys import CONTENT_TYPES, DERIVATIVE_FORMATS, DerivativeFormat, DerivativeSize

# The names are the key layout's (derivatives/.../{variant}_{size}.{ext}).
SizeName = DerivativeSize
FormatName = DerivativeFormat


@dataclass(frozen=True)
class SizeSpec:
    name: SizeName
    width: int
    height: int
    square: bool
    """True: exactly ``width x height`` (fit + pad); False: long side = ``width``."""


SIZES: Final[tuple[SizeSpec, ...]] = (
    SizeSpec("hero", 2000, 2000, square=False),
    SizeSpec("pdp", 1200, 1200, square=True),
    SizeSpec("thumb", 400, 400, square=True),
)
FORMATS: Final[tuple[FormatName, ...]] = DERIVATIVE_FORMATS


# ---------------------------------------------------------------------------------------------
# Named encoder settings (thumbor-style: one name, one value, one reason). Each was chosen by
# ``bench/derivatives_bench.py --sweep`` at EQUAL SSIMULACRA2: for every candidate the quality
# reaching the previous default's score was found per file, then bytes and CPU compared there.
# The tables are in bench/README.md ("How the settings were chosen").

JPEG_QUALITY: Final[dict[SizeName, int]] = {"hero": 83, "pdp": 83, "thumb": 85}
"""libjpeg-turbo quality per size, scaling ``JPEG_QUANT_TABLES`` (hero and pdp: 83 with the
MS-SSIM tables reach the score of Annex K at 80 / 82, see there; the thumb stays at 85)."""
JPEG_SUBSAMPLING: Final = "4:2:0"
"""Studio backgrounds are low-chroma: 4:4:4 costs ~10% bytes at equal score, for ~2x CPU."""
JPEG_PROGRESSIVE: Final = True
"""3% fewer bytes at equal score than baseline and paints early on slow links; the whole JPEG
side is ~0.05 CPU-s per composite, so the extra pass is not worth saving."""
JPEG_OPTIMIZE: Final = True
"""Optimised Huffman tables: 5-10% fewer bytes for a few ms."""
JPEG_QUANT_TABLES: Final[dict[SizeName, str]] = {
    "hero": "ms-ssim",
    "pdp": "ms-ssim",
    "thumb": "annex-k",
}
"""Base quantisation tables per size (``QUANT_TABLES``). mozjpeg's MS-SSIM-tuned set (cjpeg
``-quant-table 2``: finer low frequencies, coarser mid ones) needs 4-8% fewer bytes than
libjpeg's Annex K at equal SSIMULACRA2 on the hero and pdp (issue 18 study: -7% / -8% per file
matched; at the fixed qualities 83 / 83 over 6 composites -4% / -7%, scores -0.3 to +1.1); the
400 px thumb gains nothing (same bytes at equal score), so it keeps Annex K. Same CPU."""

WEBP_QUALITY: Final[dict[SizeName, int]] = {"hero": 78, "pdp": 80, "thumb": 82}
"""libwebp quality per size."""
WEBP_METHOD: Final = 2
"""libwebp's effort. 2 is ~0.4x the CPU of its default 4 (hero ~0.11 instead of ~0.27 CPU-s,
pdp 0.04 instead of 0.10): at the same qualities +3-4% bytes and SSIMULACRA2 -1.9 to +1.9 per
file (carton composites lower, bottles higher, the mean unchanged within 0.5); matched file by
file it was +3-14%. Taken in issue 18 to bring the nine files under 1 CPU-s; the JPEG tables
pay for the bytes. 3 costs as much as 4 here for +2%; 6 buys nothing."""

AVIF_QUALITY: Final[dict[SizeName, int]] = {"hero": 60, "pdp": 66, "thumb": 68}
"""libavif quality per size, for speed 8: the lowest that reaches speed 6's old score (quality
55 / 58 / 62) on every composite of the study, so no file is worse than before."""
AVIF_SPEED: Final = 8
"""libaom (all-intra) speed. 8 is ~0.3x the CPU of 6 for ~+22% bytes at equal score; 7 is
~0.6x for +10%; 9 is ~0.1x but +75%. AVIF was ~2/3 of the derive CPU at speed 6: with 8 (and
the WebP and JPEG choices above) the nine files of a 2000 px composite take ~0.9 instead of
~2.4 CPU-s (p50, one thread), and the nine files' bytes stay below libvips's at equal score
(0.93x; the JPEG and WebP files dominate the bytes), though each AVIF alone is 9-30% bigger
than libvips's slower speed-5 AVIF."""
AVIF_AOM_OPTIONS: Final[dict[str, str]] = {"sharpness": "2"}
"""libaom options. Loop-filter sharpness 2 keeps the fine grain and label detail the default
filter smears: 8-12% fewer bytes at equal score, free. Measured and not taken at speed 8:
``deltaq-mode=3`` (-1 to +4% bytes at equal score with sharpness 2, +15% without it) and
``tune=iq`` (-1 to +5%)."""
AVIF_THREADS: Final = 1
"""One thread per file: the nine encodes already run in parallel on the pool."""
AVIF_AUTOTILING: Final = False
"""Autotiling splits a 2000 px frame into tiles that compress ~3% worse."""


@dataclass(frozen=True)
class EncoderSettings:
    """Per-format encoder settings; qualities may differ per size. Defaults: the named settings
    above (see their notes for why each value)."""

    jpeg_quality: dict[SizeName, int] = field(default_factory=lambda: dict(JPEG_QUALITY))
    jpeg_subsampling: str = JPEG_SUBSAMPLING
    jpeg_progressive: bool = JPEG_PROGRESSIVE
    jpeg_optimize: bool = JPEG_OPTIMIZE
    jpeg_quant_tables: dict[SizeName, str] = field(default_factory=lambda: dict(JPEG_QUANT_TABLES))
    webp_quality: dict[SizeName, int] = field(default_factory=lambda: dict(WEBP_QUALITY))
    webp_method: int = WEBP_METHOD
    avif_quality: dict[SizeName, int] = field(default_factory=lambda: dict(AVIF_QUALITY))
    avif_speed: int = AVIF_SPEED
    avif_aom_options: dict[str, str] = field(default_factory=lambda: dict(AVIF_AOM_OPTIONS))
    avif_threads: int = AVIF_THREADS
    avif_autotiling: bool = AVIF_AUTOTILING


DEFAULT_SETTINGS: Final = EncoderSettings()

SMALLEST_SETTINGS: Final = EncoderSettings(
    webp_method=4, avif_quality={"hero": 55, "pdp": 58, "thumb": 62}, avif_speed=6
)
"""The bytes-first option: WebP and AVIF as before issue 18 (WebP method 4, ~3-4% smaller;
AVIF speed 6, ~18% smaller AVIFs at the same score for ~3x their CPU), with the default JPEGs
(the MS-SSIM tables are smaller at equal score anyway): ~2.4 instead of ~0.95 CPU-s for the
nine files of a 2000 px composite. For a deployment that pays more for bytes than for CPU."""


@dataclass(frozen=True)
class Derivative:
    size: SizeName
    fmt: FormatName
    width: int
    height: int
    data: bytes
    content_type: str

    @property
    def bytes(self) -> int:
        return len(self.data)


def make_derivatives(
    composite: RGB,
    *,
    settings: EncoderSettings = DEFAULT_SETTINGS,
    executor: ThreadPoolExecutor | None = None,
) -> list[Derivative]:
    """The nine derivatives of ``composite``, ordered hero/pdp/thumb x jpg/webp/avif.

    Pass ``executor`` to share a pool across composites; by default one is made with a worker
    per CPU (encoders release the GIL, so more workers than cores buys nothing).
    """
    own = executor is None
    pool = executor or ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    try:
        return submit_derivatives(composite, pool, settings=settings)()
    finally:
        if own:
            pool.shutdown(wait=True)


def submit_derivatives(
    composite: RGB,
    pool: ThreadPoolExecutor,
    *,
    settings: EncoderSettings = DEFAULT_SETTINGS,
) -> Callable[[], list[Derivative]]:
    """Resize ``composite`` once per size, queue its nine encodes on ``pool`` and return what
    waits for them (the :func:`make_derivatives` list). Several composites' encodes can then be
    in flight together: the next composite is resized while this one's are encoded.
    """
    if composite.dtype != np.uint8 or composite.ndim != 3 or composite.shape[2] != 3:
        raise ValueError(f"composite must be HxWx3 uint8, got {composite.dtype} {composite.shape}")
    resized = resize_all(composite)
    jobs: list[tuple[SizeSpec, FormatName]] = [(s, f) for s in SIZES for f in FORMATS]
    # Biggest AVIFs first: they dominate the wall time, the small files fill in behind.
    order = sorted(jobs, key=lambda job: _expected_cost(*job), reverse=True)
    futures = {
        job: pool.submit(encode, resized[job[0].name], job[1], job[0].name, settings)
        for job in order
    }

    def collect() -> list[Derivative]:
        out = []
        for spec, fmt in jobs:
            data = futures[(spec, fmt)].result()
            img = resized[spec.name]
            out.append(
                Derivative(spec.name, fmt, img.shape[1], img.shape[0], data, CONTENT_TYPES[fmt])
            )
        return out

    return collect


def resize_all(composite: RGB) -> dict[SizeName, RGB]:
    """Each size's pixels; the linear-light conversion is shared by all reductions."""
    linear = None
    out: dict[SizeName, RGB] = {}
    for spec in SIZES:
        target = target_size(composite.shape[1], composite.shape[0], spec)
        if target == (composite.shape[1], composite.shape[0]):
            out[spec.name] = composite
            continue
        if linear is None:
            linear = to_linear(composite)
        out[spec.name] = _fit_and_pad(linear, target, spec)
    return out


def target_size(width: int, height: int, spec: SizeSpec) -> tuple[int, int]:
    """The scaled image size (before padding) for ``spec``: fit inside, aspect kept."""
    scale = min(spec.width / width, spec.height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _fit_and_pad(linear: np.ndarray, target: tuple[int, int], spec: SizeSpec) -> RGB:
    tw, th = target
    shrinking = tw < linear.shape[1]
    resized = cv2.resize(
        linear, (tw, th), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    )
    srgb = to_srgb8(np.asarray(resized, np.float32))
    if not spec.square or (tw, th) == (spec.width, spec.height):
        return srgb
    left = (spec.width - tw) // 2
    top = (spec.height - th) // 2
    padded = cv2.copyMakeBorder(
        srgb,
        top,
        spec.height - th - top,
        left,
        spec.width - tw - left,
        cv2.BORDER_REPLICATE,
    )
    return np.asarray(padded, np.uint8)


def encode(rgb: RGB, fmt: FormatName, size: SizeName, settings: EncoderSettings) -> bytes:
    """Encode one file; no metadata (EXIF/ICC) is written: pixels are sRGB by contract."""
    im = Image.fromarray(rgb)
    buf = io.BytesIO()
    _ENCODERS[fmt](im, buf, size, settings)
    return buf.getvalue()


def _jpeg(im: Image.Image, buf: io.BytesIO, size: SizeName, s: EncoderSettings) -> None:
    quality = s.jpeg_quality[size]
    tables: dict[str, object] = (
        {"quality": quality}  # libjpeg scales its own Annex K tables: the same bytes
        if s.jpeg_quant_tables[size] == "annex-k"
        else {"qtables": quant_tables(s.jpeg_quant_tables[size], quality)}
    )
    buf.write(
        save_jpeg(
            im,
            subsampling=s.jpeg_subsampling,
            progressive=s.jpeg_progressive,
            optimize=s.jpeg_optimize,
            **tables,
        )
    )


# Base quantisation tables (luminance, chrominance), natural (row-major) order, as numbered by
# mozjpeg's and libjpeg-turbo's cjpeg ``-quant-table N`` (mozjpeg jcparam.c).
QUANT_TABLES: Final[dict[str, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    # 0: ITU-T T.81 Annex K, libjpeg's default.
    "annex-k": (
        (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
         14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
         18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
         49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99),
        (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
         24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99)
        + (99,) * 32,
    ),
    # 2: tuned for MS-SSIM on the Kodak image set (finer low frequencies, coarser mid ones).
    "ms-ssim": (
        (12, 17, 20, 21, 30, 34, 56, 63, 18, 20, 20, 26, 28, 51, 61, 55,
         19, 20, 21, 26, 33, 58, 69, 55, 26, 26, 26, 30, 46, 87, 86, 66,
         31, 33, 36, 40, 46, 96, 100, 73, 40, 35, 46, 62, 81, 100, 111, 91,
         46, 66, 76, 86, 102, 121, 120, 101, 68, 90, 90, 96, 113, 102, 105, 103),
        (8, 12, 15, 15, 86, 96, 96, 98, 13, 13, 15, 26, 90, 96, 99, 98,
         12, 15, 18, 96, 99, 99, 99, 99, 17, 16, 90, 96, 99, 99, 99, 99,
         96, 96, 99, 99, 99, 99, 99, 99)
        + (99,) * 24,
    ),
}  # fmt: skip


def quant_tables(name: str, quality: int) -> list[list[int]]:
    """``QUANT_TABLES[name]`` scaled to ``quality`` exactly as libjpeg's ``jpeg_set_quality``
    scales its own (``jpeg_quality_scaling``: 5000/q below 50, else 200 - 2q percent, rounded,
    clamped to 1..255 for baseline-compatible 8-bit tables)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    try:
        base = QUANT_TABLES[name]
    except KeyError:
        raise ValueError(f"unknown JPEG quantisation tables {name!r}") from None
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [[min(255, max(1, (v * scale + 50) // 100)) for v in table] for table in base]


def _webp(im: Image.Image, buf: io.BytesIO, size: SizeName, s: EncoderSettings) -> None:
    im.save(buf, "WEBP", quality=s.webp_quality[size], method=s.webp_method)


def _avif(im: Image.Image, buf: io.BytesIO, size: SizeName, s: EncoderSettings) -> None:
    im.save(
        buf,
        "AVIF",
        quality=s.avif_quality[size],
        speed=s.avif_speed,
        max_threads=s.avif_threads,
        subsampling="4:2:0",
        autotiling=s.avif_autotiling,
        advanced=dict(s.avif_aom_options),
    )


_Encoder = Callable[[Image.Image, io.BytesIO, SizeName, EncoderSettings], None]
_ENCODERS: Final[dict[str, _Encoder]] = {
    "jpg": _jpeg,
    "webp": _webp,
    "avif": _avif,
}

_FORMAT_COST: Final = {"avif": 4.0, "webp": 2.0, "jpg": 1.0}


def _expected_cost(spec: SizeSpec, fmt: FormatName) -> float:
    return spec.width * spec.height * _FORMAT_COST[fmt]
