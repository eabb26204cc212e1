"""A smooth model of the studio background's colour, fitted robustly from the photo's border.

Sweeps, vignettes and uneven lighting make the background a slow gradient rather than one colour,
so the background is modelled as low-order polynomial surfaces in (x, y): one for the logarithm
of its luminance (logarithms cannot overshoot below zero), with higher powers of y for a sweep's
S-shaped bend from wall to floor, and a flatter one for its chromaticity, which a studio
backdrop barely changes across the frame. The first
fit uses only a band along the frame (the product rarely covers most of it); the second refits on
every pixel of the whole frame that the first fit already explains, which pins the surface down in
the middle of the frame too. Outliers (the product where it touches the frame, shadows) are
rejected iteratively by their residual against a robust noise estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]

_MAX_SAMPLES = 8_000
_SECTORS = 16
_SWEEP_DEGREE = 5
_EDGE_SAMPLES = 64  # points per side of the frame where the seen backdrop is read
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass(frozen=True)
class BackgroundModel:
    log_luminance: npt.NDArray[np.float64]
    """Polynomial coefficients of log linear luminance."""
    degree: int
    chromaticity: npt.NDArray[np.float64]
    """(terms, 3) degree-1 polynomial coefficients of rgb / (r + g + b)."""
    noise: float
    """Robust standard deviation of the relative residual on background pixels."""
    inlier_share: float
    """Share of the border band the model explains (low: busy or absent background)."""
    y_degree: int = 0
    """Highest extra power of y in the luminance surface (0: none)."""

    def predict(self, ys: F32, xs: F32) -> F32:
        """Background colour at normalised coordinates (both in [-1, 1])."""
        return self.predict_on(_basis(ys, xs, self.degree, self.y_degree), _basis(ys, xs, 1))

    def predict_on(self, basis: npt.NDArray[np.float64], flat_basis: npt.NDArray[np.float64]
                   ) -> F32:
        """:meth:`predict` on bases already computed for the same points (``_basis`` of this
        model's degrees, and of degree 1): the robust fit predicts the same samples each round."""
        # A surface fitted on a short stretch of the border can run wild elsewhere; keep it
        # within float range (e^5 is far brighter than any backdrop) so it is merely wrong.
        lum = np.exp(np.clip(basis @ self.log_luminance, -30.0, 5.0))
        chroma = np.clip(flat_basis @ self.chromaticity, 1e-3, None)
        chroma /= chroma.sum(axis=-1, keepdims=True)
        total = lum / (chroma @ _LUMA.astype(np.float64))
        return (chroma * total[..., None]).astype(np.float32)

    def predict_grid(self, height: int, width: int) -> F32:
        """Background colour for every pixel of a ``height x width`` grid, ``HxWx3``."""
        # The surface is smooth: evaluate it on a coarse grid and interpolate.
        gh, gw = min(height, 64), min(width, 64)
        ys, xs = _grid(gh, gw)
        coarse = self.predict(ys.ravel(), xs.ravel()).reshape(gh, gw, 3)
        if (gh, gw) == (height, width):
            return coarse
        return _resize_corners(coarse, height, width)

    def colour_srgb(self) -> tuple[int, int, int]:
        """The modelled colour at the frame centre, as 8-bit sRGB (for metadata)."""
        centre = self.predict(np.zeros(1, np.float32), np.zeros(1, np.float32))[0]
        srgb = linear_to_srgb(np.clip(centre, 0, 1))
        r, g, b = (round(float(c) * 255) for c in srgb)
        return (r, g, b)

    def seen_lightness(self, rgb: npt.NDArray[np.uint8]) -> float:
        """Mean sRGB value (0..1) of the backdrop where ``rgb``'s edge shows it: the modelled
        colour at the edge pixels the model explains. Unlike the colour at the centre, this
        holds when the product fills the middle of the frame (the surface extrapolated under a
        product cut by the frame on three sides can run far off, even to black)."""
        h, w = rgb.shape[:2]
        rows = np.linspace(0, h - 1, _EDGE_SAMPLES).round().astype(np.intp)
        cols = np.linspace(0, w - 1, _EDGE_SAMPLES).round().astype(np.intp)
        ys = np.concatenate([np.zeros_like(cols), np.full_like(cols, h - 1), rows, rows])
        xs = np.concatenate([cols, cols, np.zeros_like(rows), np.full_like(rows, w - 1)])
        predicted = self.predict((2 * ys / max(h - 1, 1) - 1).astype(np.float32),
                                 (2 * xs / max(w - 1, 1) - 1).astype(np.float32))
        residual = relative_residual(srgb_to_linear(rgb[ys, xs]), predicted)
        seen = residual < max(3.0 * self.noise, 0.01)
        if not seen.any():
            return 0.0
        return float(linear_to_srgb(np.clip(predicted[seen], 0, 1)).mean())


def fit_background(linear: F32, band_fraction: float = 0.03,
                   exclude: BoolMap | None = None) -> BackgroundModel:
    """Fit the background of ``linear`` (``HxWx3`` float32 linear light).

    ``exclude`` leaves pixels out of the border band (those a rejected model explained).
    """
    h, w = linear.shape[:2]
    band = max(1, round(band_fraction * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:band] = border[-band:] = True
    border[:, :band] = border[:, -band:] = True
    if exclude is not None:
        border &= ~exclude
    ys, xs = _grid(h, w)
    # A studio backdrop is light and nearly neutral. Where a product is cut by the frame, its
    # colourful or dark pixels fill long stretches of the band: leave them out of the fit
    # unless nothing else is left (a coloured backdrop).
    plausible = border & _light_and_neutral(linear)
    if plausible.sum() >= 0.1 * border.sum():
        border = plausible
    pixels, by, bx = linear[border], ys[border], xs[border]
    # Two ways to seed the robust fit: the brighter half of the whole frame (robust to a
    # product covering a long stretch of it) and the brighter half of each stretch (follows a
    # sweep that darkens towards the top). Keep whichever explains more of the frame.
    models = [_fit_twice(linear, border, ys, xs, per_sector) for per_sector in (False, True)]
    def explained(model: BackgroundModel) -> float:
        residual = relative_residual(pixels, model.predict(by, bx))
        return float(np.mean([np.mean(residual < t) for t in (0.02, 0.05, 0.1)]))

    return max(models, key=explained)


def _fit_twice(linear: F32, border: BoolMap, ys: F32, xs: F32, per_sector: bool
               ) -> BackgroundModel:
    h, w = linear.shape[:2]
    # Seeded per stretch, the fit also sees the sweep's dim top, so it may bend along y; seeded
    # on the brighter half of the frame it may not (nothing would hold the bend up there).
    y_degree = _SWEEP_DEGREE if per_sector else 0
    model = _robust_fit(linear[border], ys[border], xs[border], degree=2, rounds=6,
                        per_sector=per_sector, y_degree=y_degree)
    # Second pass over the whole frame: every pixel with the backdrop's chromaticity and a
    # luminance near the first model's (a sweep's gradient may depart from a quadratic a lot).
    predicted = model.predict_grid(h, w)
    chroma = _chroma_distance(linear, predicted)
    ratio = (linear @ _LUMA) / np.maximum(predicted @ _LUMA, 1e-4)
    chroma_noise = float(np.median(chroma[border])) * 1.4826 + 1e-4
    candidate = (chroma < max(4 * chroma_noise, 0.006)) & (ratio > 0.6) & (ratio < 1.7)
    # The refit starts from what the first model explains tightly and only takes in the looser
    # candidates its own residuals accept, so a neutral product cannot drag it down.
    tight = relative_residual(linear, predicted) < max(3.0 * model.noise, 0.01)
    if (candidate & tight).sum() > 50:
        refit = _robust_fit(linear[candidate], ys[candidate], xs[candidate], degree=3, rounds=4,
                            start=tight[candidate], y_degree=y_degree)
        in_border = relative_residual(linear[border], refit.predict(ys[border], xs[border]))
        share = float(np.mean(in_border < max(3.0 * refit.noise, 0.01)))
        return BackgroundModel(refit.log_luminance, refit.degree, refit.chromaticity,
                               refit.noise, share, y_degree)
    return model


def _light_and_neutral(linear: F32) -> BoolMap:
    """Pixels a studio backdrop could be: not dark, and of low saturation."""
    r, g, b = linear[..., 0], linear[..., 1], linear[..., 2]
    srgb_max = np.maximum(np.maximum(r, g), b)
    srgb_min = np.minimum(np.minimum(r, g), b)
    # Thresholds in linear light: max >= 0.1 is sRGB ~0.35; the saturation test compares
    # linear channels, so 0.55 there is a saturation of about 0.24 on sRGB values (cream paper,
    # about 0.12, passes).
    return np.asarray((srgb_max >= 0.1) & (srgb_min >= 0.55 * srgb_max), bool)


def relative_residual(pixels: F32, background: F32) -> F32:
    """Colour distance relative to the background's brightness (scale free)."""
    diff = pixels - background
    diff *= diff
    # Channel by channel: numpy's reductions over a last axis of 3 are slow.
    norm = np.sqrt(diff[..., 0] + diff[..., 1] + diff[..., 2])
    mean = (background[..., 0] + background[..., 1] + background[..., 2]) / 3
    return np.asarray(norm / (mean + 1e-3), np.float32)


def _chroma_distance(a: F32, b: F32) -> F32:
    ca = a / (a[..., 0] + a[..., 1] + a[..., 2] + 1e-4)[..., None]
    cb = b / (b[..., 0] + b[..., 1] + b[..., 2] + 1e-4)[..., None]
    ca -= cb
    ca *= ca
    return np.asarray(np.sqrt(ca[..., 0] + ca[..., 1] + ca[..., 2]), np.float32)


def _robust_fit(pixels: F32, ys: F32, xs: F32, degree: int, rounds: int,
                start: BoolMap | None = None, per_sector: bool = False, y_degree: int = 0
                ) -> BackgroundModel:
    if len(pixels) > _MAX_SAMPLES:
        pick = np.linspace(0, len(pixels) - 1, _MAX_SAMPLES).astype(np.int64)
        pixels, ys, xs = pixels[pick], ys[pick], xs[pick]
        start = None if start is None else start[pick]
    basis = _basis(ys, xs, degree, y_degree)
    flat_basis = _basis(ys, xs, 1)
    log_lum = np.log(np.maximum(pixels @ _LUMA, 1e-4)).astype(np.float64)
    chroma = (pixels / (pixels.sum(axis=1, keepdims=True) + 1e-4)).astype(np.float64)
    if start is None and not per_sector:
        # Start from the brighter half: shadows and most products are darker than the backdrop.
        lum = pixels.mean(axis=1)
        inliers = lum >= np.median(lum) - 1e-6
    elif start is None:
        # The brighter half of each stretch of the frame, so a sweep's darker top takes part.
        lum = pixels.mean(axis=1)
        sector = ((np.arctan2(ys, xs) + np.pi) / (2 * np.pi) * _SECTORS).astype(np.int64)
        sector = np.clip(sector, 0, _SECTORS - 1)
        inliers = np.zeros(len(lum), bool)
        for k in range(_SECTORS):
            members = sector == k
            if members.any():
                inliers |= members & (lum >= np.median(lum[members]) - 1e-6)
    else:
        inliers = start.copy()
    model = BackgroundModel(np.zeros(basis.shape[1]), degree, np.zeros((3, 3)), 0.01, 0.0,
                            y_degree)
    for _ in range(rounds):
        if inliers.sum() < basis.shape[1] * 3:
            inliers = np.ones(len(pixels), bool)
        lum_coef = _least_squares(basis[inliers], log_lum[inliers])
        chroma_coef = _least_squares(flat_basis[inliers], chroma[inliers])
        model = BackgroundModel(lum_coef, degree, chroma_coef, 0.01, 0.0, y_degree)
        residual = relative_residual(pixels, model.predict_on(basis, flat_basis))
        noise = float(1.4826 * np.median(residual[inliers])) + 1e-4
        inliers = residual < max(3.0 * noise, 0.008)
    return BackgroundModel(model.log_luminance, degree, model.chromaticity, noise,
                           float(inliers.mean()), y_degree)


def _resize_corners(grid: F32, height: int, width: int) -> F32:
    """Bilinear resize that maps corner samples onto corner pixels (like ``_grid``'s spacing)."""
    gh, gw = grid.shape[:2]
    fy = np.linspace(0, gh - 1, height, dtype=np.float32)
    fx = np.linspace(0, gw - 1, width, dtype=np.float32)
    map_x = np.broadcast_to(fx[None, :], (height, width)).astype(np.float32)
    map_y = np.broadcast_to(fy[:, None], (height, width)).astype(np.float32)
    return np.asarray(cv2.remap(grid, map_x, map_y, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE), np.float32)


def _least_squares(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
                   ) -> npt.NDArray[np.float64]:
    """Normal equations with a whisper of ridge: the bases are tiny and well conditioned."""
    gram = a.T @ a
    gram[np.diag_indices_from(gram)] += 1e-9 * len(a)
    return np.asarray(np.linalg.solve(gram, a.T @ b), np.float64)


def _grid(h: int, w: int) -> tuple[F32, F32]:
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    xs = np.ones((h, 1), np.float32) * np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    return ys, xs


def _basis(ys: F32, xs: F32, degree: int, y_degree: int = 0) -> npt.NDArray[np.float64]:
    """Polynomial terms up to ``degree`` in (x, y), and the powers of y above it up to
    ``y_degree``: a sweep bends from wall to floor along y only, in an S that a quadratic
    cannot follow (its dim top would otherwise pass for a product)."""
    y = ys.astype(np.float64)
    x = xs.astype(np.float64)
    top = max(degree, y_degree)
    x_powers, y_powers = [np.ones_like(x), x], [np.ones_like(y), y]
    for _ in range(2, top + 1):  # repeated products: float ** int is a slow pow() per element
        x_powers.append(x_powers[-1] * x)
        y_powers.append(y_powers[-1] * y)
    terms = [x_powers[i] * y_powers[j] for i in range(degree + 1) for j in range(degree + 1 - i)]
    terms += [y_powers[j] for j in range(degree + 1, y_degree + 1)]
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
