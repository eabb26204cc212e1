"""Edge colours without the old background's halo.

An edge pixel is a mix ``I = a·F + (1 - a)·B`` of product colour ``F`` and background ``B``. With
``B`` known from the neighbourhood just outside the product (which includes any shadow under the
edge) the mix can be undone: ``F = (I - (1 - a)·B) / a``. That is unstable where ``a`` is small,
so there the colour is taken from the product just inside the edge instead.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.guided import sample_bilinear

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]


def neighbourhood_colours(image: F32, product: BoolMap) -> tuple[F32, F32]:
    """Product colour just inside and background colour just outside each working pixel."""
    # Two pixels of margin: the hard mask's outline may sit a pixel off the true edge, and the
    # samples must come from pure product / pure backdrop, not from mixed edge pixels.
    kernel = np.ones((5, 5), np.uint8)
    inside = cv2.erode(product.astype(np.uint8), kernel).astype(np.float32)
    outside = 1.0 - cv2.dilate(product.astype(np.uint8), kernel).astype(np.float32)
    return _spread(image, inside), _spread(image, outside)


def edge_alpha(image: F32, product: BoolMap, inside: F32, outside: F32, band: int,
               min_contrast: float = 0.06) -> F32:
    """Soft working alpha: the hard mask, with each pixel near the outline unmixed by colour.

    Near the outline a pixel's colour lies between the product colour just inside and the
    backdrop colour just outside; its position on that segment is its coverage. Where the two
    colours are too close to tell apart (white on white) the hard mask is kept.
    """
    alpha = product.astype(np.float32)
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    mask = product.astype(np.uint8)
    ring = (cv2.dilate(mask, kernel) > 0) & (cv2.erode(mask, kernel) == 0)
    diff = inside[ring] - outside[ring]
    spread = np.sum(diff * diff, axis=1)
    coverage = np.sum((image[ring] - outside[ring]) * diff, axis=1) / np.maximum(spread, 1e-6)
    distinct = spread > min_contrast * min_contrast
    values = alpha[ring]
    values[distinct] = np.clip(coverage[distinct], 0, 1)
    alpha[ring] = values
    return alpha


def _spread(image: F32, weight: F32) -> F32:
    """Normalised convolution at growing scales, so every pixel gets a nearby average."""
    weighted = image * weight[..., None]
    result: F32 | None = None
    filled = np.zeros(image.shape[:2], bool)
    for sigma in (1.5, 4.0):  # only the edge band needs values; farther gets the mean
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        ok = den > 0.02
        # Whole planes, then kept where valid: cheaper than boolean indexing, same values.
        average = cv2.GaussianBlur(weighted, (0, 0), sigma) / np.maximum(den, 0.02)[..., None]
        if result is None:
            result = np.where(ok[..., None], average, np.float32(0)).astype(np.float32)
        else:
            np.copyto(result, average, where=(ok & ~filled)[..., None])
        filled |= ok
    assert result is not None
    if not filled.all():
        total = float(weight.sum())
        mean = (image * weight[..., None]).reshape(-1, 3).sum(0) / max(total, 1e-6)
        result[~filled] = mean if total > 0 else image.reshape(-1, 3).mean(0)
    return result


def decontaminate_edges(rgba: npt.NDArray[np.uint8], inside: F32, outside: F32,
                        partial: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]] | None = None
                        ) -> None:
    """Rewrite, in place, the colour of ``rgba``'s partly transparent pixels.

    ``inside``/``outside`` are the working-resolution neighbourhood colours (sRGB, 0..1).
    ``partial`` is where those pixels are (``ys, xs``), when the caller already knows (see
    :func:`plinth.imaging.segment.refine.refined_alpha`); otherwise they are looked for.
    """
    height, width = rgba.shape[:2]
    alpha = rgba[..., 3]
    ys, xs = partial if partial is not None else np.nonzero((alpha > 0) & (alpha < 255))
    if len(ys) == 0:
        return
    a = (alpha[ys, xs].astype(np.float32) / 255.0)[:, None]
    observed = rgba[ys, xs, :3].astype(np.float32) / 255.0
    # One gather for both colour maps.
    sampled = sample_bilinear(np.concatenate([inside, outside], axis=-1), ys, xs, height, width)
    product, backdrop = sampled[:, :3], sampled[:, 3:]
    unmixed = unmix(observed, a, backdrop)
    # Unmixing amplifies alpha errors where alpha is small; below ~0.6 the nearby product
    # colour is the safer estimate.
    trust = np.clip((a - 0.55) / 0.4, 0, 1)
    trust = trust * trust * (3 - 2 * trust)
    colour = trust * unmixed + (1 - trust) * product
    rgba[ys, xs, :3] = np.clip(colour * 255 + 0.5, 0, 255).astype(np.uint8)


def unmix(observed: F32, alpha: F32, backdrop: F32) -> F32:
    """The product's own colour ``F = (I - (1 - a)·B) / a`` of pixels ``observed`` (``Nx3``,
    sRGB 0..1) with coverage ``alpha`` (``Nx1``) over ``backdrop`` (``Nx3``), clipped to 0..1;
    ``a`` is taken as at least 0.05, where the division would blow noise up without bound."""
    return np.clip((observed - (1 - alpha) * backdrop) / np.maximum(alpha, np.float32(0.05)),
                   0, 1).astype(np.float32)


def clear_transparent(rgba: npt.NDArray[np.uint8]) -> None:
    """Zero, in place, the colour of fully transparent pixels: nothing of the old background
    survives in the cutout file, and the PNG compresses better. (The local provider does the
    same inside its strip loop, to avoid a second full-resolution pass.)"""
    rgba[rgba[..., 3] == 0, :3] = 0
