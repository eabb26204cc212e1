"""The derive encoders were retuned for CPU (issue 18: AVIF speed 6 -> 8 with higher qualities,
WebP method 4 -> 2, JPEG hero/pdp on the MS-SSIM tables at quality 83) at equal SSIMULACRA2: the
files changed, the perceptual quality must not have gone down (by more than a point)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from ssimulacra2 import compute_ssimulacra2

from plinth.imaging.backgrounds import load_theme, render_background
from plinth.imaging.composite import composite
from plinth.imaging.derivatives import (
    DEFAULT_SETTINGS,
    SMALLEST_SETTINGS,
    EncoderSettings,
    encode,
    resize_all,
)

BEFORE_ISSUE_18_JPEG = EncoderSettings(
    jpeg_quality={"hero": 80, "pdp": 82, "thumb": 85},
    jpeg_quant_tables={"hero": "annex-k", "pdp": "annex-k", "thumb": "annex-k"},
)


def _png(rgb: np.ndarray) -> io.BytesIO:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    buf.seek(0)
    return buf


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _score(original: np.ndarray, data: bytes) -> float:
    return float(compute_ssimulacra2(_png(original), _png(_decoded(data))))


@pytest.fixture(scope="module")
def product_composite() -> np.ndarray:
    """A textured label-like product with a soft edge, composited on a theme (1200 px)."""
    rng = np.random.default_rng(4)
    h, w = 900, 500
    y, x = np.mgrid[0:h, 0:w]
    body = np.stack(
        [120 + 60 * np.sin(x / 9.0), 90 + 50 * np.cos(y / 13.0), 70 + 40 * np.sin((x + y) / 21.0)],
        axis=-1,
    )
    body[300:420:6] = 235  # rows of "print"
    body += rng.normal(0, 5, body.shape)
    cut = np.zeros((h, w, 4), np.uint8)
    cut[..., :3] = np.clip(body, 0, 255).astype(np.uint8)
    inside = ((x - w / 2) / (w / 2 - 4)) ** 2 + ((y - h / 2) / (h / 2 - 4)) ** 2
    cut[..., 3] = np.clip((1.0 - inside) * 40 * 255, 0, 255).astype(np.uint8)
    theme = load_theme("warm_paper")
    return composite(cut, render_background(theme, 0, (1200, 1200)), theme)


@pytest.mark.parametrize("size", ["pdp", "thumb"])
def test_default_avif_keeps_the_previous_settings_score(
    product_composite: np.ndarray, size: str
) -> None:
    pixels = resize_all(product_composite)[size]  # type: ignore[index]
    now = encode(pixels, "avif", size, DEFAULT_SETTINGS)  # type: ignore[arg-type]
    before = encode(pixels, "avif", size, SMALLEST_SETTINGS)  # type: ignore[arg-type]
    assert now != before  # a different encoder configuration really ran
    s_now, s_before = _score(pixels, now), _score(pixels, before)
    assert s_before > 60  # the metric sees a good file, not noise
    # The qualities were matched on the benchmark's composites (bench/README.md), scored with
    # its fast port of the metric (within 0.8 of this package); on this different image the
    # thumb lands ~0.5 below: within a point, below what a viewer can tell.
    assert s_now >= s_before - 1.0, (size, s_now, s_before)


def test_jpeg_and_webp_thumbs_score_as_the_study_found(product_composite: np.ndarray) -> None:
    thumb = resize_all(product_composite)["thumb"]
    for fmt in ("jpg", "webp"):
        assert _score(thumb, encode(thumb, fmt, "thumb", DEFAULT_SETTINGS)) > 70, fmt


def test_ms_ssim_jpeg_tables_score_as_annex_k_did_in_fewer_bytes(
    product_composite: np.ndarray,
) -> None:
    pdp = resize_all(product_composite)["pdp"]
    now = encode(pdp, "jpg", "pdp", DEFAULT_SETTINGS)
    before = encode(pdp, "jpg", "pdp", BEFORE_ISSUE_18_JPEG)
    s_now, s_before = _score(pdp, now), _score(pdp, before)
    assert s_before > 60
    # The benchmark's composites scored -0.3 to +1.1 against Annex K at 82 (bench/README.md);
    # this image ~0.8 lower, in ~8% fewer bytes.
    assert s_now >= s_before - 1.0, (s_now, s_before)
    assert len(now) < len(before)


def test_webp_method_2_scores_within_a_point_of_method_4(product_composite: np.ndarray) -> None:
    pdp = resize_all(product_composite)["pdp"]
    now = encode(pdp, "webp", "pdp", DEFAULT_SETTINGS)
    method_4 = encode(pdp, "webp", "pdp", SMALLEST_SETTINGS)
    assert now != method_4
    s_now, s_before = _score(pdp, now), _score(pdp, method_4)
    assert s_before > 55
    assert s_now >= s_before - 1.0, (s_now, s_before)
