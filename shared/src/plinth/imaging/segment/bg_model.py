"""A smooth model of the studio background's colour, fitted robustly from the photo's border.

Sweeps, vignettes and uneven lighting make the background a slow gradient rather than one colour,
so each linear-light channel is modelled as a low-order polynomial surface in (x, y). The first
fit uses only a band along the frame (the product rarely covers most of it); the second refits on
every pixel of the whole frame that the first fit already explains, which pins the surface down in
the middle of the frame too. Outliers (the product where it touches the frame, shadows) are
rejected iteratively by their residual against a robust noise estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]

_MAX_SAMPLES = 40_000


@dataclass(frozen=True)
class BackgroundModel:
    coefficients: npt.NDArray[np.float64]
    """(terms, 3) polynomial coefficients per linear-light channel."""
    degree: int
    noise: float
    """Robust standard deviation of the relative residual on background pixels."""
    inlier_share: float
    """Share of the border band the model explains (low: busy or absent background)."""

    def predict(self, ys: F32, xs: F32) -> F32:
        """Background colour at normalised coordinates (both in [-1, 1])."""
        basis = _basis(ys, xs, self.degree)
        return (basis @ self.coefficients).astype(np.float32)

    def predict_grid(self, height: int, width: int) -> F32:
        """Background colour for every pixel of a ``height x width`` grid, ``HxWx3``."""
        ys, xs = _grid(height, width)
        return self.predict(ys.ravel(), xs.ravel()).reshape(height, width, 3)

    def colour_srgb(self) -> tuple[int, int, int]:
        """The modelled colour at the frame centre, as 8-bit sRGB (for metadata)."""
        centre = self.predict(np.zeros(1, np.float32), np.zeros(1, np.float32))[0]
        srgb = linear_to_srgb(np.clip(centre, 0, 1))
        r, g, b = (int(round(float(c) * 255)) for c in srgb)
        return (r, g, b)


def fit_background(linear: F32, band_fraction: float = 0.03) -> BackgroundModel:
    """Fit the background of ``linear`` (``HxWx3`` float32 linear light)."""
    h, w = linear.shape[:2]
    band = max(1, round(band_fraction * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:band] = border[-band:] = True
    border[:, :band] = border[:, -band:] = True
    ys, xs = _grid(h, w)
    model = _robust_fit(linear[border], ys[border], xs[border], degree=2, rounds=6)
    # Second pass over the whole frame: every pixel the border model already explains.
    residual = relative_residual(linear, model.predict_grid(h, w))
    explained = residual < max(3.0 * model.noise, 0.01)
    if explained.sum() > 50:
        refit = _robust_fit(linear[explained], ys[explained], xs[explained], degree=3, rounds=3)
        in_border = relative_residual(linear[border], refit.predict(ys[border], xs[border]))
        share = float(np.mean(in_border < max(3.0 * refit.noise, 0.01)))
        return BackgroundModel(refit.coefficients, refit.degree, refit.noise, share)
    return model


def relative_residual(pixels: F32, background: F32) -> F32:
    """Colour distance relative to the background's brightness (scale free)."""
    diff = pixels - background
    norm = np.sqrt(np.sum(diff * diff, axis=-1))
    return (norm / (np.mean(background, axis=-1) + 1e-3)).astype(np.float32)


def _robust_fit(pixels: F32, ys: F32, xs: F32, degree: int, rounds: int) -> BackgroundModel:
    if len(pixels) > _MAX_SAMPLES:
        pick = np.linspace(0, len(pixels) - 1, _MAX_SAMPLES).astype(np.int64)
        pixels, ys, xs = pixels[pick], ys[pick], xs[pick]
    basis = _basis(ys, xs, degree)
    # Start from the brightest half around the median: shadows and most products are darker.
    lum = pixels.mean(axis=1)
    inliers = lum >= np.median(lum) - 1e-6
    coefficients = np.zeros((basis.shape[1], 3))
    noise = 0.01
    for _ in range(rounds):
        if inliers.sum() < basis.shape[1] * 3:
            inliers = np.ones(len(pixels), bool)
        coefficients, *_ = np.linalg.lstsq(basis[inliers], pixels[inliers], rcond=None)
        residual = relative_residual(pixels, (basis @ coefficients).astype(np.float32))
        noise = float(1.4826 * np.median(residual[inliers])) + 1e-4
        inliers = residual < max(3.0 * noise, 0.008)
    return BackgroundModel(coefficients, degree, noise, float(inliers.mean()))


def _grid(h: int, w: int) -> tuple[F32, F32]:
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    xs = np.ones((h, 1), np.float32) * np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    return ys, xs


def _basis(ys: F32, xs: F32, degree: int) -> npt.NDArray[np.float64]:
    y = ys.astype(np.float64)
    x = xs.astype(np.float64)
    terms = [x**i * y**j for i in range(degree + 1) for j in range(degree + 1 - i)]
    return np.stack(terms, axis=-1)


_TO_LINEAR = np.array(
    [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
     for c in np.arange(256) / 255.0], np.float32)


def srgb_to_linear(rgb: npt.NDArray[np.uint8]) -> F32:
    """8-bit sRGB to float32 linear light via a lookup table."""
    return _TO_LINEAR[rgb]


def linear_to_srgb(linear: F32) -> F32:
    low = linear * 12.92
    high = 1.055 * np.power(np.maximum(linear, 0), 1 / 2.4) - 0.055
    return np.where(linear <= 0.0031308, low, high).astype(np.float32)
