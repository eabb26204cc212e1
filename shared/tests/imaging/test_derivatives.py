"""Stage 5: nine files, exact sizes, the fit/pad rule, real encodings."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from plinth.imaging.derivatives import (
    DEFAULT_SETTINGS,
    FORMATS,
    SIZES,
    EncoderSettings,
    encode,
    make_derivatives,
    quant_tables,
    resize_all,
    target_size,
)


def textured(w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    y = np.linspace(60, 220, h)[:, None, None]
    x = np.linspace(0, 1, w)[None, :, None]
    base = y * np.array([1.0, 0.9, 0.8]) + 20 * np.sin(x * 40)
    return np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def wide_derivatives() -> list:
    return make_derivatives(textured(500, 400))


def test_nine_files_in_order_with_exact_sizes(wide_derivatives: list) -> None:
    got = [(d.size, d.fmt, d.width, d.height) for d in wide_derivatives]
    assert got == [
        ("hero", "jpg", 2000, 1600),
        ("hero", "webp", 2000, 1600),
        ("hero", "avif", 2000, 1600),
        ("pdp", "jpg", 1200, 1200),
        ("pdp", "webp", 1200, 1200),
        ("pdp", "avif", 1200, 1200),
        ("thumb", "jpg", 400, 400),
        ("thumb", "webp", 400, 400),
        ("thumb", "avif", 400, 400),
    ]


def test_files_are_real_images_of_their_format(wide_derivatives: list) -> None:
    pillow_format = {"jpg": "JPEG", "webp": "WEBP", "avif": "AVIF"}
    content_type = {"jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}
    for d in wide_derivatives:
        assert d.content_type == content_type[d.fmt]
        assert d.bytes == len(d.data) > 100
        with Image.open(io.BytesIO(d.data)) as im:
            assert im.format == pillow_format[d.fmt]
            assert im.size == (d.width, d.height)
            assert im.mode == "RGB"
            assert "icc_profile" not in im.info and "exif" not in im.info


def test_square_sizes_fit_inside_and_pad_with_the_edge_pixels() -> None:
    comp = textured(500, 400)
    thumb = resize_all(comp)["thumb"]
    assert thumb.shape == (400, 400, 3)
    # 500x400 fits as 400x320: 40 px bands above and below replicate the edge rows.
    assert np.array_equal(thumb[0], thumb[39]) and np.array_equal(thumb[39], thumb[40])
    assert np.array_equal(thumb[-1], thumb[359])
    assert not np.array_equal(thumb[40], thumb[200])  # the image itself is not flat


def test_resize_is_in_linear_light() -> None:
    # A 1-px black/white checkerboard averages to 50% linear light = sRGB 188, not 128.
    check = np.indices((800, 800)).sum(axis=0) % 2 * 255
    comp = np.repeat(check[..., None], 3, axis=2).astype(np.uint8)
    thumb = resize_all(comp)["thumb"]
    assert 185 <= int(thumb[200, 200, 0]) <= 190


def test_square_composite_at_hero_size_is_not_resampled() -> None:
    comp = np.zeros((2000, 2000, 3), np.uint8)
    comp[::7] = 200
    out = resize_all(comp)
    assert out["hero"] is comp
    assert out["pdp"].shape == (1200, 1200, 3)


def test_target_size_rule() -> None:
    hero, pdp, _ = SIZES
    assert target_size(3000, 1500, hero) == (2000, 1000)
    assert target_size(1000, 500, hero) == (2000, 1000)  # hero long side is always 2000
    assert target_size(3000, 1500, pdp) == (1200, 600)


def test_quality_settings_change_the_bytes() -> None:
    thumb = resize_all(textured(400, 400))["thumb"]
    low = EncoderSettings(
        jpeg_quality={"hero": 30, "pdp": 30, "thumb": 30},
        webp_quality={"hero": 30, "pdp": 30, "thumb": 30},
        avif_quality={"hero": 20, "pdp": 20, "thumb": 20},
    )
    for fmt in FORMATS:
        assert len(encode(thumb, fmt, "thumb", low)) < len(
            encode(thumb, fmt, "thumb", DEFAULT_SETTINGS)
        ), fmt


def test_a_shared_pool_can_be_passed() -> None:
    with ThreadPoolExecutor(2) as pool:
        out = make_derivatives(textured(300, 300), executor=pool)
        assert len(out) == 9
        assert pool.submit(lambda: 1).result() == 1  # the caller's pool is left running


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3))],
)
def test_bad_composite(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        make_derivatives(bad)


@pytest.mark.parametrize("quality", [10, 49, 50, 75, 83, 95, 100])
def test_annex_k_tables_scaled_here_are_libjpegs_own(quality: int) -> None:
    # quant_tables repeats libjpeg's jpeg_set_quality scaling: given the Annex K tables it
    # must write exactly the file libjpeg writes for ``quality``.
    pixels = resize_all(textured(400, 400))["thumb"]
    im = Image.fromarray(pixels)
    own, ours = io.BytesIO(), io.BytesIO()
    im.save(own, "JPEG", quality=quality, subsampling="4:2:0")
    im.save(ours, "JPEG", qtables=quant_tables("annex-k", quality), subsampling="4:2:0")
    assert own.getvalue() == ours.getvalue()


def test_jpegs_carry_the_tables_of_their_size() -> None:
    pixels = resize_all(textured(500, 500))
    for size in ("hero", "pdp", "thumb"):
        data = encode(pixels[size], "jpg", size, DEFAULT_SETTINGS)
        name = DEFAULT_SETTINGS.jpeg_quant_tables[size]
        with Image.open(io.BytesIO(data)) as im:
            got = [list(im.quantization[i]) for i in (0, 1)]  # type: ignore[attr-defined]
        quality = DEFAULT_SETTINGS.jpeg_quality[size]
        assert got == quant_tables(name, quality), size
    assert DEFAULT_SETTINGS.jpeg_quant_tables["hero"] == "ms-ssim"


def test_quant_tables_are_baseline_and_checked() -> None:
    for name in ("annex-k", "ms-ssim"):
        for quality in (1, 50, 100):
            tables = quant_tables(name, quality)
            assert len(tables) == 2 and all(len(t) == 64 for t in tables)
            assert all(1 <= v <= 255 for t in tables for v in t)
    assert quant_tables("ms-ssim", 50)[0][:3] == [12, 17, 20]  # quality 50 = the base table
    with pytest.raises(ValueError, match=r"1\.\.100"):
        quant_tables("annex-k", 0)
    with pytest.raises(ValueError, match="unknown"):
        quant_tables("flat", 80)
