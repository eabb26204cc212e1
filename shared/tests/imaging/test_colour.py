"""sRGB encode: the consuming (OpenCV pow) encoder against the table and the exact curve."""

from __future__ import annotations

import numpy as np

from plinth.imaging.colour import _linear_to_srgb_exact, to_srgb8, to_srgb8_consuming


def _exact8(linear: np.ndarray) -> np.ndarray:
    exact = _linear_to_srgb_exact(np.clip(linear.astype(np.float64), 0.0, 1.0))
    return np.asarray(np.clip(np.round(exact * 255.0), 0, 255), np.int16)


def test_consuming_encoder_is_within_one_level_of_the_table_and_the_curve() -> None:
    ramp = np.linspace(-0.05, 1.05, 1_100_001, dtype=np.float32).reshape(1, -1, 1)
    table = to_srgb8(ramp).astype(np.int16)
    fast = to_srgb8_consuming(ramp.copy()).astype(np.int16)
    exact = _exact8(ramp)
    assert fast.shape == table.shape
    assert np.abs(fast - table).max() <= 1
    assert np.abs(fast - exact).max() <= 1
    # Closer to the curve than the table is, and exact at the ends and across the toe.
    assert (fast != exact).sum() <= (table != exact).sum()
    toe = ramp <= 0.0031308
    assert np.array_equal(fast[toe], exact[toe])


def test_consuming_encoder_clips_and_handles_images_and_odd_arrays() -> None:
    rng = np.random.default_rng(3)
    image = (rng.random((61, 47, 3), dtype=np.float32) ** 3).astype(np.float32)
    image[0, 0] = (-0.2, 0.0, 1.7)
    expected = to_srgb8(image)
    out = to_srgb8_consuming(image.copy())
    assert out.dtype == np.uint8 and out.shape == (61, 47, 3)
    assert tuple(out[0, 0]) == (0, 0, 255)
    assert np.abs(out.astype(np.int16) - expected).max() <= 1
    # Arrays it cannot overwrite in place go through the table, untouched.
    as64 = image.astype(np.float64)
    assert np.array_equal(to_srgb8_consuming(as64), to_srgb8(as64))
    view = image[:, ::2]
    kept = view.copy()
    assert np.array_equal(to_srgb8_consuming(view), to_srgb8(kept))
    assert np.array_equal(view, kept)
